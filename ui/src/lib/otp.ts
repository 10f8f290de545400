// One-time-code entry: the six boxes, the expiry countdown, the resend rule and attempts.
import { attemptsRemaining, retryAfterSeconds } from './i18n';
import { toAsciiDigits } from './digits';
import type { ApiError } from './api';

export const CODE_LENGTH = 6;
/** Resend is allowed this long after a send unless the server says otherwise (RATE_LIMITED). */
export const DEFAULT_RESEND_AFTER_S = 30;

export type Boxes = string[];

export function emptyBoxes(): Boxes {
  return Array.from({ length: CODE_LENGTH }, () => '');
}

/** The ASCII digits in `text`, in order; full-width and other scripts' digits count too. */
export function digitsOf(text: string): string {
  return toAsciiDigits(text).replace(/\D/g, '');
}

/** Spaces (any kind) and hyphens/dashes (any kind) a code may be typed or pasted with. */
const CODE_SEPARATORS = /[\s\p{Pd}\u2212]/gu;

/**
 * A code as typed or pasted ("123456", "123 456", "123-456", "１２３４５６", "١٢٣٤٥٦") as its six
 * ASCII digits, or null when it is not exactly six digits once spaces and hyphens are removed.
 */
export function normalizeCode(text: string): string | null {
  const s = toAsciiDigits(text).replace(CODE_SEPARATORS, '');
  return new RegExp(`^\\d{${CODE_LENGTH}}$`).test(s) ? s : null;
}

export interface BoxUpdate {
  boxes: Boxes;
  /** The box to focus next. */
  focus: number;
}

/** Spread `digits` over the boxes from `start`; extra digits are dropped. */
export function fillFrom(boxes: Boxes, start: number, digits: string): BoxUpdate {
  const next = boxes.slice();
  let i = start;
  for (const d of digits) {
    if (i >= CODE_LENGTH) break;
    next[i] = d;
    i++;
  }
  return { boxes: next, focus: Math.min(i, CODE_LENGTH - 1) };
}

/**
 * The new raw value of box `index` after an input event (typing, autofill, WebDriver keys).
 * One digit sets the box and advances; several digits ("123456", "123 456") spread from here;
 * anything without digits clears the box.
 */
export function applyInput(boxes: Boxes, index: number, raw: string): BoxUpdate {
  const digits = digitsOf(raw);
  if (digits.length === 0) {
    const next = boxes.slice();
    next[index] = '';
    return { boxes: next, focus: index };
  }
  return fillFrom(boxes, index, digits);
}

/**
 * Paste into box `index`. A full code (6 digits, with or without spaces or a dash) fills every
 * box from the first; a shorter run fills from `index`.
 */
export function applyPaste(boxes: Boxes, index: number, text: string): BoxUpdate {
  const digits = digitsOf(text);
  if (digits.length === 0) return { boxes: boxes.slice(), focus: index };
  if (digits.length >= CODE_LENGTH) return fillFrom(emptyBoxes(), 0, digits.slice(0, CODE_LENGTH));
  return fillFrom(boxes, index, digits);
}

/** Backspace in box `index`: clear it, or if it is empty clear the previous one and move there. */
export function applyBackspace(boxes: Boxes, index: number): BoxUpdate {
  const next = boxes.slice();
  if (next[index]) {
    next[index] = '';
    return { boxes: next, focus: index };
  }
  const prev = Math.max(0, index - 1);
  next[prev] = '';
  return { boxes: next, focus: prev };
}

/** A digit from the on-screen keypad: goes into the first empty box. */
export function applyKeypadDigit(boxes: Boxes, digit: string): BoxUpdate {
  const first = boxes.findIndex((b) => b === '');
  if (first === -1) return { boxes: boxes.slice(), focus: CODE_LENGTH - 1 };
  return fillFrom(boxes, first, digitsOf(digit).slice(0, 1));
}

/** Keypad backspace: clears the last filled box. */
export function applyKeypadBackspace(boxes: Boxes): BoxUpdate {
  let last = -1;
  boxes.forEach((b, i) => {
    if (b) last = i;
  });
  if (last === -1) return { boxes: boxes.slice(), focus: 0 };
  const next = boxes.slice();
  next[last] = '';
  return { boxes: next, focus: last };
}

export function codeOf(boxes: Boxes): string {
  return boxes.join('');
}

export function isComplete(boxes: Boxes): boolean {
  return boxes.length === CODE_LENGTH && boxes.every((b) => /^\d$/.test(b));
}

/** Whole seconds until `expiresAt` (RFC 3339), never negative; null when it does not parse. */
export function secondsUntil(expiresAt: string, nowMs: number): number | null {
  const t = Date.parse(expiresAt);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - nowMs) / 1000));
}

/** 125 -> "2:05". */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The resend rule: allowed from a moment on, moved by each send and by RATE_LIMITED. */
export class ResendTimer {
  private allowedAtMs: number;

  constructor(sentAtMs: number, afterS = DEFAULT_RESEND_AFTER_S) {
    this.allowedAtMs = sentAtMs + afterS * 1000;
  }

  /** A code was (re)sent at `nowMs`. */
  sent(nowMs: number, afterS = DEFAULT_RESEND_AFTER_S): void {
    this.allowedAtMs = nowMs + afterS * 1000;
  }

  /** The server refused with RATE_LIMITED; wait what it says (or the default). */
  rateLimited(nowMs: number, retryAfterS: number | null): void {
    this.allowedAtMs = nowMs + (retryAfterS ?? DEFAULT_RESEND_AFTER_S) * 1000;
  }

  /** Allow resending right away (the code expired or attempts ran out). */
  allowNow(nowMs: number): void {
    this.allowedAtMs = Math.min(this.allowedAtMs, nowMs);
  }

  secondsLeft(nowMs: number): number {
    return Math.max(0, Math.ceil((this.allowedAtMs - nowMs) / 1000));
  }

  canResend(nowMs: number): boolean {
    return this.secondsLeft(nowMs) === 0;
  }
}

export type VerifyOutcome =
  | { kind: 'retry'; attempts: number | null }
  | { kind: 'expired' }
  | { kind: 'locked' }
  | { kind: 'rate_limited'; retryAfterS: number | null }
  | { kind: 'restart' }
  | { kind: 'other' };

/** What a failed verify means for the code screen. */
export function classifyVerifyError(err: Pick<ApiError, 'code' | 'message' | 'details'>): VerifyOutcome {
  switch (err.code) {
    case 'INVALID_OTP':
      return { kind: 'retry', attempts: attemptsRemaining(err) };
    case 'OTP_EXPIRED':
      return { kind: 'expired' };
    case 'MAX_ATTEMPTS_EXCEEDED':
      return { kind: 'locked' };
    case 'RATE_LIMITED':
      return { kind: 'rate_limited', retryAfterS: retryAfterSeconds(err) };
    case 'OTP_ALREADY_USED':
    case 'VALIDATION_NOT_FOUND':
    case 'VALIDATION_NOT_PENDING':
      return { kind: 'restart' };
    default:
      return { kind: 'other' };
  }
}

/** The email check lives in ./email; kept here for older imports. */
export { isValidEmail } from './email';

/** Mask an identifier for display on a shared screen: "ana@example.com" -> "an•@example.com". */
export function maskIdentifier(to: string): string {
  const at = to.indexOf('@');
  if (at > 0) {
    const user = to.slice(0, at);
    const keep = Math.min(2, user.length);
    return user.slice(0, keep) + '•'.repeat(Math.max(1, user.length - keep)) + to.slice(at);
  }
  if (to.length > 6) return to.slice(0, 3) + '•'.repeat(to.length - 6) + to.slice(-3);
  return to;
}
