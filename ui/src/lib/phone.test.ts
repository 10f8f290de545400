import { describe, expect, it } from 'vitest';
import { getCountries } from 'libphonenumber-js/max';
import { t } from './i18n';
import {
  backspaceNumber,
  caretAfter,
  cleanNumber,
  countries,
  countryName,
  defaultCountry,
  editNumber,
  findCountry,
  formatNumber,
  isInternational,
  numberCountry,
  orderedCountries,
  PHONE_ERROR_KEYS,
  PREFERRED,
  pressKey,
  searchCountries,
  toE164,
  type PhoneError,
} from './phone';

const ok = (e164: string) => expect.objectContaining({ ok: true, e164 });
const fail = (error: PhoneError) => ({ ok: false, error });

describe('E.164 by the numbering plans', () => {
  it('the examples from the issue', () => {
    expect(toE164('GB', '020 7946 0958')).toEqual({ ok: true, e164: '+442079460958', country: 'GB' });
    expect(toE164('GB', '+44 (0)20 7946 0958')).toEqual(ok('+442079460958'));
    expect(toE164('US', '+44 (0)20 7946 0958')).toEqual(ok('+442079460958'));
    expect(toE164('US', '00 34 612 34 56 78')).toEqual({ ok: true, e164: '+34612345678', country: 'ES' });
    expect(toE164('ES', '00 34 612 34 56 78')).toEqual(ok('+34612345678'));
    expect(toE164('US', '+1 123')).toEqual(fail('TOO_SHORT'));
  });

  it('national numbers in other countries, with their trunk prefixes and punctuation', () => {
    expect(toE164('ES', '612 34 56 78')).toEqual(ok('+34612345678'));
    expect(toE164('US', '(201) 555-0123')).toEqual(ok('+12015550123'));
    expect(toE164('MX', '55.1234.5678')).toEqual(ok('+525512345678'));
    expect(toE164('CO', '300 123 4567')).toEqual(ok('+573001234567'));
    expect(toE164('BR', '(11) 91234-5678')).toEqual(ok('+5511912345678'));
    expect(toE164('DE', '030 123456')).toEqual(ok('+4930123456'));
    expect(toE164('FR', '06 12 34 56 78')).toEqual(ok('+33612345678'));
    expect(toE164('GB', '07400 123456')).toEqual(ok('+447400123456'));
    expect(toE164('NL', '06-12345678')).toEqual(ok('+31612345678'));
    expect(toE164('AU', '0412 345 678')).toEqual(ok('+61412345678'));
    expect(toE164('JP', '090-1234-5678')).toEqual(ok('+819012345678'));
  });

  it('the country’s own international prefix, and full-width or Arabic-Indic digits', () => {
    expect(toE164('US', '011 34 612 345 678')).toEqual(ok('+34612345678'));
    expect(toE164('ES', '＋３４ ６１２ ３４ ５６ ７８')).toEqual(ok('+34612345678'));
    expect(toE164('ES', '٦١٢٣٤٥٦٧٨')).toEqual(ok('+34612345678'));
  });

  it('refuses what cannot be a number, with a kind the screen can say', () => {
    expect(toE164('ES', '')).toEqual(fail('EMPTY'));
    expect(toE164('ES', ' - ')).toEqual(fail('EMPTY'));
    expect(toE164('ES', '+')).toEqual(fail('EMPTY'));
    expect(toE164('ES', '6123')).toEqual(fail('TOO_SHORT'));
    expect(toE164('ES', '6123456789')).toEqual(fail('TOO_LONG'));
    expect(toE164('US', '+1')).toEqual(fail('TOO_SHORT'));
    expect(toE164('US', '+1234567890123456')).toEqual(fail('TOO_LONG'));
    // Possible lengths, but no such numbers: US area codes never start with 1, no country +999,
    // Argentine mobiles need their 9.
    expect(toE164('US', '123 456 7890')).toEqual(fail('INVALID'));
    expect(toE164('US', '+999 1234 5678')).toEqual(fail('INVALID'));
    expect(toE164('AR', '20 1234 5678')).toEqual(fail('INVALID'));
    // No country selected that the library knows: only an international number goes.
    expect(toE164('ZZ', '612345678')).toEqual(fail('INVALID'));
    expect(toE164('ZZ', '+34612345678')).toEqual(ok('+34612345678'));
  });

  it('every kind of error has its message in English and Spanish', () => {
    for (const key of Object.values(PHONE_ERROR_KEYS)) {
      expect(t('en', key)).toMatch(/\w/);
      expect(t('es', key)).toMatch(/\w/);
      expect(t('es', key)).not.toBe(t('en', key));
    }
  });
});

describe('countries', () => {
  it('every country the library knows, named in the UI language', () => {
    expect(countries('en')).toHaveLength(getCountries().length);
    expect(countries('en').length).toBeGreaterThan(240);
    expect(findCountry('GB', 'en')).toMatchObject({ code: '44', name: 'United Kingdom', id: '44' });
    expect(findCountry('GB', 'es')).toMatchObject({ code: '44', name: 'Reino Unido' });
    expect(findCountry('DE', 'es')?.name).toBe('Alemania');
    expect(findCountry('ES', 'en')).toMatchObject({ code: '34', name: 'Spain', id: '34' });
    expect(countryName('XY', 'en')).toBe('XY');
  });

  it('sorted by name in the language, with unique ids', () => {
    const es = countries('es').map((c) => c.name);
    expect(es.indexOf('Alemania')).toBeLessThan(es.indexOf('España'));
    expect(es.indexOf('España')).toBeLessThan(es.indexOf('Estados Unidos'));
    for (const lang of ['en', 'es'] as const) {
      const ids = countries(lang).map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('the main country of a shared calling code keeps the plain id', () => {
    expect(findCountry('US')?.id).toBe('1');
    expect(findCountry('CA')?.id).toBe('1-CA');
    expect(findCountry('JE')?.id).toBe('44-JE');
    expect(findCountry('MX')?.id).toBe('52');
  });

  it('the preferred countries first, then the rest once each', () => {
    const { preferred, rest } = orderedCountries('en');
    expect(preferred.map((c) => c.iso)).toEqual([...PREFERRED]);
    expect(preferred.length + rest.length).toBe(countries('en').length);
    expect(rest.some((c) => c.iso === 'ES')).toBe(false);
  });

  it('default country by language', () => {
    expect(defaultCountry('es')).toBe('ES');
    expect(defaultCountry('en')).toBe('US');
  });
});

describe('country search', () => {
  const en = countries('en');
  const es = countries('es');
  const isos = (list: { iso: string }[]) => list.map((c) => c.iso);

  it('by name, ignoring case and accents, in either language', () => {
    expect(isos(searchCountries(en, 'spain'))).toEqual(['ES']);
    expect(isos(searchCountries(es, 'espana'))[0]).toBe('ES');
    expect(isos(searchCountries(es, 'ESPAÑA'))[0]).toBe('ES');
    expect(isos(searchCountries(en, 'españa'))[0]).toBe('ES');
    expect(isos(searchCountries(es, 'germany'))).toEqual(['DE']);
    expect(isos(searchCountries(en, 'peru'))).toEqual(['PE']);
    expect(isos(searchCountries(en, 'cote'))).toContain('CI');
    // Inside a word, only in the language shown.
    expect(isos(searchCountries(en, 'uni'))).toContain('TN');
    expect(isos(searchCountries(es, 'uni'))).not.toContain('TN');
    expect(isos(searchCountries(es, 'uni'))).toEqual(expect.arrayContaining(['US', 'GB', 'AE']));
  });

  it('names that start with the text before names that contain it', () => {
    const r = isos(searchCountries(en, 'king'));
    expect(r).toContain('GB');
    const ger = isos(searchCountries(en, 'ger'));
    expect(ger.indexOf('DE')).toBeLessThan(ger.indexOf('NG'));
  });

  it('by ISO code, first', () => {
    expect(isos(searchCountries(en, 'gb'))[0]).toBe('GB');
    expect(isos(searchCountries(en, 'US'))[0]).toBe('US');
    expect(isos(searchCountries(en, 'uk'))).toContain('GB');
  });

  it('by calling code, with or without + or 00', () => {
    expect(isos(searchCountries(en, '34'))[0]).toBe('ES');
    expect(isos(searchCountries(en, '+44')).slice(0, 4).sort()).toEqual(['GB', 'GG', 'IM', 'JE']);
    expect(isos(searchCountries(en, '0052'))[0]).toBe('MX');
    expect(isos(searchCountries(en, '+1'))).toEqual(expect.arrayContaining(['US', 'CA', 'PR']));
  });

  it('nothing for nonsense; the whole list for an empty search', () => {
    expect(searchCountries(en, 'qqqq')).toEqual([]);
    expect(searchCountries(en, '  ')).toHaveLength(en.length);
  });
});

describe('typing the number', () => {
  it('formats as it is typed', () => {
    expect(formatNumber('GB', '02079460958')).toBe('020 7946 0958');
    expect(formatNumber('ES', '612345678')).toBe('612 34 56 78');
    expect(formatNumber('US', '4155550123')).toBe('(415) 555-0123');
    expect(formatNumber('US', '+4420794')).toBe('+44 20 794');
    expect(formatNumber('US', '0034612345678')).toBe('00 34 612 34 56 78');
    expect(formatNumber('US', '00')).toBe('00');
    expect(formatNumber('US', '')).toBe('');
  });

  it('keeps digits and one leading +, from any script', () => {
    expect(cleanNumber(' +44 (0)20-7946.0958 ')).toBe('+4402079460958');
    expect(cleanNumber('61+2a')).toBe('612');
    expect(cleanNumber('６１２')).toBe('612');
    expect(isInternational('+44 20')).toBe(true);
    expect(isInternational('00 34')).toBe(true);
    expect(isInternational('612')).toBe(false);
  });

  it('keeps the caret after the same digit', () => {
    expect(caretAfter('(415) 555-0123', 3)).toBe(4);
    expect(caretAfter('(415) 555-0123', 4)).toBe(7);
    expect(caretAfter('612 34', 0)).toBe(0);
    // A digit typed in the middle of "612 34 56 7".
    const r = editNumber('ES', '612 34 56 7', '6129 34 56 7', 4, 'insertText');
    expect(r.value).toBe('612 93 45 67');
    expect(r.caret).toBe(5);
    // Typed at the end, the caret stays at the end.
    const e = editNumber('US', '(415) 555-012', '(415) 555-0123', 14, 'insertText');
    expect(e).toEqual({ value: '(415) 555-0123', caret: 14 });
  });

  it('backspace over a space deletes the digit before it', () => {
    // "612 3|4" -> the user deletes the space: "6123|4"... caret after the 3.
    const r = editNumber('ES', '612 34', '61234', 3, 'deleteContentBackward');
    expect(r.value).toBe('613 4');
    expect(r.caret).toBe(2);
    const f = editNumber('ES', '612 34', '61234', 3, 'deleteContentForward');
    expect(f.value).toBe('612 4');
  });
});

describe('the + on the keypad', () => {
  it('starts an international number', () => {
    let v = pressKey('ES', '', '+');
    expect(v).toBe('+');
    for (const d of '442079460958') v = pressKey('ES', v, d);
    expect(v).toBe('+44 20 7946 0958');
    expect(toE164('ES', v)).toEqual(ok('+442079460958'));
  });

  it('goes only at the start, once', () => {
    expect(pressKey('ES', '+44', '+')).toBe('+44');
    expect(pressKey('US', '44 20', '+')).toBe('+44 20');
  });

  it('digits are appended and formatted; backspace removes the last', () => {
    let v = '';
    for (const d of '612345678') v = pressKey('ES', v, d);
    expect(v).toBe('612 34 56 78');
    expect(backspaceNumber('ES', v)).toBe('612 34 56 7');
    expect(backspaceNumber('ES', '+')).toBe('');
    expect(pressKey('ES', v, 'x')).toBe(v);
  });
});

describe('the country of an international number', () => {
  it('from its calling code as it is typed', () => {
    expect(numberCountry('+44 20 7946 0958')).toEqual({ code: '44', iso: 'GB' });
    expect(numberCountry('00 34 612')).toMatchObject({ code: '34' });
    expect(numberCountry('+')).toEqual({ code: null, iso: null });
    expect(numberCountry('612 34')).toEqual({ code: null, iso: null });
  });
});
