// Phone numbers on the phone screen: every country libphonenumber-js knows (names in the UI
// language), a search over them, as-you-type formatting, and E.164 with real validation.
// The "max" metadata validates the digits themselves, not only the length.
import {
  AsYouType,
  getCountries,
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
  type CountryCode,
} from 'libphonenumber-js/max';
import metadata from 'libphonenumber-js/max/metadata';
import type { Locale } from './api';
import { toAsciiDigits } from './digits';
import type { MessageKey } from './i18n';

export type { CountryCode };

export interface Country {
  iso: CountryCode;
  /** Calling code, digits only, e.g. "34". */
  code: string;
  /** Name in the UI language, or the ISO code when the platform has no name for it. */
  name: string;
  /**
   * Suffix of the data-testid: "country-<id>". The calling code alone for the main country of a
   * code ("34" Spain, "1" United States, "44" United Kingdom), "<code>-<ISO>" for the others
   * sharing it ("1-CA", "44-JE").
   */
  id: string;
}

/** Shown first when the search is empty (the kiosk's usual visitors). */
export const PREFERRED: readonly CountryCode[] = ['US', 'ES', 'MX', 'CO', 'GB', 'DE', 'FR', 'BR'];

export function defaultCountry(lang: Locale): CountryCode {
  return lang === 'es' ? 'ES' : 'US';
}

const displayNames = new Map<string, Intl.DisplayNames | null>();

/** "GB" -> "United Kingdom" / "Reino Unido"; the ISO code itself when there is no name. */
export function countryName(iso: string, lang: Locale): string {
  if (!displayNames.has(lang)) {
    let dn: Intl.DisplayNames | null = null;
    try {
      dn = new Intl.DisplayNames([lang], { type: 'region', fallback: 'none' });
    } catch {
      dn = null;
    }
    displayNames.set(lang, dn);
  }
  try {
    const name = displayNames.get(lang)?.of(iso);
    return name && name !== iso ? name : iso;
  } catch {
    return iso;
  }
}

function mainCountryOf(code: string): string | undefined {
  return (metadata.country_calling_codes as Record<string, string[]>)[code]?.[0];
}

const byLang = new Map<Locale, Country[]>();

/** Every country with its calling code, sorted by name in `lang`. */
export function countries(lang: Locale): Country[] {
  let list = byLang.get(lang);
  if (!list) {
    const collator = new Intl.Collator(lang);
    list = getCountries()
      .map((iso) => {
        const code = getCountryCallingCode(iso) as string;
        const id = mainCountryOf(code) === iso ? code : `${code}-${iso}`;
        return { iso, code, name: countryName(iso, lang), id };
      })
      .sort((a, b) => collator.compare(a.name, b.name) || a.iso.localeCompare(b.iso));
    byLang.set(lang, list);
  }
  return list;
}

export function findCountry(iso: string, lang: Locale = 'en'): Country | undefined {
  return countries(lang).find((c) => c.iso === iso);
}

/** Lower case, no accents, punctuation as spaces: "Côte d’Ivoire" -> "cote d ivoire". */
export function fold(s: string): string {
  return toAsciiDigits(s)
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Other names people search by (folded). */
const ALIASES: Partial<Record<CountryCode, string[]>> = {
  GB: ['uk', 'great britain', 'britain', 'england', 'scotland', 'wales', 'northern ireland', 'inglaterra', 'gran bretana', 'escocia', 'gales'],
  US: ['usa', 'america', 'united states of america', 'eeuu', 'ee uu', 'estados unidos de america'],
  NL: ['holland', 'holanda'],
  AE: ['uae', 'emiratos'],
};

const LOCALES: Locale[] = ['en', 'es'];
const searchNames = new Map<CountryCode, string[]>();

/** The country's names in every UI language and its aliases, folded. */
function namesOf(iso: CountryCode): string[] {
  let names = searchNames.get(iso);
  if (!names) {
    names = [...new Set([...LOCALES.map((l) => fold(countryName(iso, l))), ...(ALIASES[iso] ?? [])])];
    searchNames.set(iso, names);
  }
  return names;
}

/**
 * Countries matching `query` by name (a name or a word of it starting with the text, in English
 * or Spanish; the text anywhere in the name shown; accents and case ignored), ISO code or calling
 * code ("34", "+34", "0034"), best matches first; an empty query keeps `list` as is.
 */
export function searchCountries(list: readonly Country[], query: string): Country[] {
  const q = fold(query);
  if (q === '') return list.slice();
  const scored: { c: Country; rank: number; i: number }[] = [];
  const numeric = /^[\d\s]+$/.test(q);
  const digits = q.replace(/\D/g, '').replace(/^00/, '');
  list.forEach((c, i) => {
    let rank = -1;
    if (numeric) {
      if (digits === '') rank = -1;
      else if (c.code === digits) rank = 0;
      else if (c.code.startsWith(digits)) rank = 1;
    } else {
      const names = namesOf(c.iso);
      if (q === c.iso.toLowerCase()) rank = 0;
      else if (names.some((n) => n.startsWith(q))) rank = 1;
      else if (names.some((n) => n.includes(` ${q}`))) rank = 2;
      // Inside a word only in the name shown ("Tunisia" is not found by "uni" in Spanish).
      else if (fold(c.name).includes(q)) rank = 3;
    }
    if (rank >= 0) scored.push({ c, rank, i });
  });
  return scored.sort((a, b) => a.rank - b.rank || a.i - b.i).map((s) => s.c);
}

/** The list shown under an empty search: the preferred countries, then all the others by name. */
export function orderedCountries(lang: Locale): { preferred: Country[]; rest: Country[] } {
  const all = countries(lang);
  const preferred = PREFERRED.map((iso) => all.find((c) => c.iso === iso)).filter((c): c is Country => !!c);
  return { preferred, rest: all.filter((c) => !PREFERRED.includes(c.iso)) };
}

// --- typing --------------------------------------------------------------------------------

/** Digits a number field keeps (a national number is at most 17 digits with an 00 or 011). */
export const MAX_DIGITS = 18;

/**
 * What the number field keeps of what was typed: ASCII digits (from any script) and one "+" at
 * the start. Spaces, brackets, dots and dashes go: the formatter puts its own back.
 */
export function cleanNumber(text: string): string {
  const s = toAsciiDigits(text).trim();
  const plus = s.startsWith('+') ? '+' : '';
  return plus + s.replace(/\D/g, '').slice(0, MAX_DIGITS);
}

function validCountry(country: string): CountryCode | undefined {
  return isSupportedCountry(country) ? (country as CountryCode) : undefined;
}

/**
 * As-you-type formatting for the number field: "2079460958" with GB -> "20 7946 0958",
 * "+4420794" -> "+44 20 794", "0034612" -> "00 34 612" (00 is taken as "+" everywhere).
 */
export function formatNumber(country: string, text: string): string {
  const clean = cleanNumber(text);
  if (clean === '') return '';
  let out: string;
  if (clean.startsWith('+')) out = new AsYouType().input(clean);
  else if (clean.startsWith('00')) out = clean.length === 2 ? '00' : `00 ${new AsYouType().input(`+${clean.slice(2)}`).slice(1)}`;
  else out = new AsYouType(validCountry(country)).input(clean);
  // Never let formatting lose or add a digit.
  return cleanNumber(out) === clean ? out : clean;
}

/** Characters that count for the caret: digits and the "+". */
function significant(s: string): number {
  return cleanNumber(s).length;
}

/** The index just after the `n`th significant character of a formatted value. */
export function caretAfter(value: string, n: number): number {
  if (n <= 0) return 0;
  let seen = 0;
  for (let i = 0; i < value.length; i++) {
    if (/[\d+]/.test(value[i])) seen++;
    if (seen === n) return i + 1;
  }
  return value.length;
}

export interface NumberEdit {
  value: string;
  caret: number;
}

/**
 * An input event in the number field: `raw` is the field's value after the edit and `caret` the
 * caret in it; `prev` the formatted value before. Reformats and keeps the caret after the same
 * digit. Deleting only a space or bracket of the formatting deletes the digit before (or, for
 * forward delete, after) it, so backspace never seems stuck.
 */
export function editNumber(country: string, prev: string, raw: string, caret: number, inputType = ''): NumberEdit {
  let text = raw;
  let at = Math.max(0, Math.min(caret, raw.length));
  if (inputType.startsWith('delete') && cleanNumber(raw) === cleanNumber(prev) && raw !== prev) {
    if (inputType.includes('Backward')) {
      const i = lastSignificantBefore(text, at);
      if (i >= 0) {
        text = text.slice(0, i) + text.slice(i + 1);
        at = i;
      }
    } else {
      const i = firstSignificantFrom(text, at);
      if (i >= 0) text = text.slice(0, i) + text.slice(i + 1);
    }
  }
  const n = significant(text.slice(0, at));
  const value = formatNumber(country, text);
  return { value, caret: caretAfter(value, Math.min(n, significant(value))) };
}

function lastSignificantBefore(s: string, at: number): number {
  for (let i = at - 1; i >= 0; i--) if (/[\d+]/.test(s[i])) return i;
  return -1;
}

function firstSignificantFrom(s: string, at: number): number {
  for (let i = at; i < s.length; i++) if (/[\d+]/.test(s[i])) return i;
  return -1;
}

/** A key of the on-screen keypad appended to the number ("+" only ever at the start). */
export function pressKey(country: string, value: string, key: string): string {
  const clean = cleanNumber(value);
  if (key === '+') return clean.startsWith('+') ? value : formatNumber(country, `+${clean}`);
  if (!/^\d$/.test(key) || clean.replace(/\D/g, '').length >= MAX_DIGITS) return value;
  return formatNumber(country, clean + key);
}

/** Keypad backspace: the last digit (or the "+") goes, with the formatting after it. */
export function backspaceNumber(country: string, value: string): string {
  return formatNumber(country, cleanNumber(value).slice(0, -1));
}

/** True when the number carries its own country ("+…" or "00…"), so the selected one is not used. */
export function isInternational(text: string): boolean {
  const clean = cleanNumber(text);
  return clean.startsWith('+') || clean.startsWith('00');
}

/**
 * The country an international number ("+44 20…", "00 34 6…") belongs to, as far as it is typed:
 * its calling code once complete, and its country once the digits tell (null while unknown).
 */
export function numberCountry(text: string): { code: string | null; iso: CountryCode | null } {
  let clean = cleanNumber(text);
  if (clean.startsWith('00')) clean = `+${clean.slice(2)}`;
  if (!clean.startsWith('+')) return { code: null, iso: null };
  const t = new AsYouType();
  t.input(clean);
  return { code: (t.getCallingCode() as string | undefined) ?? null, iso: t.getCountry() ?? null };
}

// --- E.164 ---------------------------------------------------------------------------------

export type PhoneError = 'EMPTY' | 'TOO_SHORT' | 'TOO_LONG' | 'INVALID';

export type PhoneResult = { ok: true; e164: string; country: CountryCode | null } | { ok: false; error: PhoneError };

/** The message shown for each kind of error (en and es in ./i18n). */
export const PHONE_ERROR_KEYS: Record<PhoneError, MessageKey> = {
  EMPTY: 'phone.empty',
  TOO_SHORT: 'phone.tooShort',
  TOO_LONG: 'phone.tooLong',
  INVALID: 'phone.invalid',
};

/**
 * A number as typed, with the selected country (ISO, e.g. "GB") -> E.164:
 * GB + "020 7946 0958" -> "+442079460958"; a number with its own "+" or "00" (or the country's
 * own international prefix, like 011 in the US) is taken as international, whatever is selected:
 * "+44 (0)20 7946 0958" -> "+442079460958", "00 34 612 34 56 78" -> "+34612345678". Refuses a
 * number that cannot exist (length) or is not valid in its country's numbering plan.
 */
export function toE164(country: string, text: string): PhoneResult {
  let clean = cleanNumber(text);
  if (clean.replace(/\D/g, '') === '') return { ok: false, error: 'EMPTY' };
  if (clean.startsWith('00')) clean = `+${clean.slice(2)}`;
  const defaultCountry = clean.startsWith('+') ? undefined : validCountry(country);
  if (!clean.startsWith('+') && !defaultCountry) return { ok: false, error: 'INVALID' };

  let length: ReturnType<typeof validatePhoneNumberLength>;
  try {
    length = validatePhoneNumberLength(clean, defaultCountry);
  } catch {
    return { ok: false, error: 'INVALID' };
  }
  if (length === 'TOO_SHORT' || length === 'NOT_A_NUMBER') return { ok: false, error: 'TOO_SHORT' };
  if (length === 'TOO_LONG') return { ok: false, error: 'TOO_LONG' };
  if (length !== undefined) return { ok: false, error: 'INVALID' };

  const parsed = parsePhoneNumberFromString(clean, { defaultCountry, extract: false });
  if (!parsed || !parsed.isPossible() || !parsed.isValid()) return { ok: false, error: 'INVALID' };
  return { ok: true, e164: parsed.number, country: parsed.country ?? null };
}
