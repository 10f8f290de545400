// Country codes and E.164 assembly for the phone screen.

export interface Country {
  /** Digits only, e.g. "34". */
  code: string;
  iso: string;
  /** National significant number length range (without trunk 0). */
  min: number;
  max: number;
}

export const COUNTRIES: Country[] = [
  { code: '1', iso: 'US/CA', min: 10, max: 10 },
  { code: '34', iso: 'ES', min: 9, max: 9 },
  { code: '52', iso: 'MX', min: 10, max: 10 },
  { code: '57', iso: 'CO', min: 10, max: 10 },
  { code: '44', iso: 'GB', min: 9, max: 10 },
  { code: '49', iso: 'DE', min: 6, max: 13 },
  { code: '33', iso: 'FR', min: 9, max: 9 },
  { code: '55', iso: 'BR', min: 10, max: 11 },
];

export function findCountry(code: string): Country | undefined {
  const c = code.replace(/\D/g, '');
  return COUNTRIES.find((x) => x.code === c);
}

export type PhoneResult = { ok: true; e164: string } | { ok: false; error: 'EMPTY' | 'TOO_SHORT' | 'TOO_LONG' };

/**
 * "+34" + "612 34 56 78" -> "+34612345678". Spaces, dashes, dots and brackets are dropped, and
 * so is a national trunk prefix 0 ("07700 900123" with +44 -> "+447700900123"). A number typed
 * with its own leading "+" or "00" is taken as already international.
 */
export function toE164(countryCode: string, number: string): PhoneResult {
  const raw = number.trim();
  let international: string | null = null;
  if (raw.startsWith('+')) international = raw.slice(1).replace(/\D/g, '');
  else if (raw.replace(/[\s\-.()]/g, '').startsWith('00')) international = raw.replace(/\D/g, '').slice(2);

  if (international !== null) {
    if (international.length === 0) return { ok: false, error: 'EMPTY' };
    if (international.length < 8) return { ok: false, error: 'TOO_SHORT' };
    if (international.length > 15) return { ok: false, error: 'TOO_LONG' };
    return { ok: true, e164: `+${international}` };
  }

  const cc = countryCode.replace(/\D/g, '');
  let national = raw.replace(/\D/g, '');
  if (national.length === 0) return { ok: false, error: 'EMPTY' };
  national = national.replace(/^0+/, '');
  const country = findCountry(cc);
  const min = country?.min ?? 6;
  const max = Math.min(country?.max ?? 14, 15 - cc.length);
  if (national.length < min) return { ok: false, error: 'TOO_SHORT' };
  if (national.length > max) return { ok: false, error: 'TOO_LONG' };
  return { ok: true, e164: `+${cc}${national}` };
}
