// The email screen's own check (no browser validation bubble: WebKit's is English-only and
// blocks the submit). Permissive: the server and the mail system have the final say.
import type { MessageKey } from './i18n';

export type EmailError = 'EMPTY' | 'NO_AT' | 'INVALID';

export type EmailResult = { ok: true; email: string } | { ok: false; error: EmailError };

/** The message shown for each kind of error (en and es in ./i18n). */
export const EMAIL_ERROR_KEYS: Record<EmailError, MessageKey> = {
  EMPTY: 'email.empty',
  NO_AT: 'email.noAt',
  INVALID: 'email.invalid',
};

const LOCAL_MAX = 64;
const DOMAIN_MAX = 253;
const TOTAL_MAX = 254;
/** One domain label: letters (any script, for IDNs), digits and inner hyphens. */
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?$/u;
/** A top-level domain: letters only, or an "xn--" A-label. */
const TLD = /^(?:\p{L}[\p{L}\p{M}]+|xn--[a-z0-9-]+)$/u;

/**
 * "  Ana.Garcia@Example.COM " -> "Ana.Garcia@example.com": trimmed, the domain in lower case
 * (and NFKC, so a full-width "＠" or "ｅｘａｍｐｌｅ.com" from an IME is the plain one); the
 * local part is kept as typed (it may be case-sensitive).
 */
export function checkEmail(text: string): EmailResult {
  const s = text.trim().replace(/\uFF20/g, '@');
  if (s === '') return { ok: false, error: 'EMPTY' };
  const at = s.lastIndexOf('@');
  if (at === -1) return { ok: false, error: 'NO_AT' };
  const local = s.slice(0, at);
  const domain = s
    .slice(at + 1)
    .normalize('NFKC')
    .trim()
    .toLowerCase()
    .replace(/\.$/, '');
  if (!validLocal(local) || !validDomain(domain)) return { ok: false, error: 'INVALID' };
  const email = `${local}@${domain}`;
  if (email.length > TOTAL_MAX) return { ok: false, error: 'INVALID' };
  return { ok: true, email };
}

export function isValidEmail(text: string): boolean {
  return checkEmail(text).ok;
}

function validLocal(local: string): boolean {
  if (local.length === 0 || local.length > LOCAL_MAX) return false;
  // No spaces, no second "@", no control characters; dots only between characters.
  if (/[\s@\p{Cc}"(),:;<>[\\\]]/u.test(local)) return false;
  return !local.startsWith('.') && !local.endsWith('.') && !local.includes('..');
}

function validDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > DOMAIN_MAX) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  return labels.every((l) => LABEL.test(l)) && TLD.test(labels[labels.length - 1]);
}
