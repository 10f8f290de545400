import { describe, expect, it } from 'vitest';
import { checkEmail, EMAIL_ERROR_KEYS, isValidEmail } from './email';
import { t } from './i18n';

describe('email check', () => {
  it('trims, and lower-cases the domain only', () => {
    expect(checkEmail('  Ana.Garcia@Example.COM ')).toEqual({ ok: true, email: 'Ana.Garcia@example.com' });
    expect(checkEmail('ana@example.com')).toEqual({ ok: true, email: 'ana@example.com' });
    expect(checkEmail('a.b+c@x-y.co')).toEqual({ ok: true, email: 'a.b+c@x-y.co' });
    expect(checkEmail('ana@mail.example.com.')).toEqual({ ok: true, email: 'ana@mail.example.com' });
  });

  it('full-width @ and domain from an IME, and international domains', () => {
    expect(checkEmail('ana＠ＥＸＡＭＰＬＥ.com')).toEqual({ ok: true, email: 'ana@example.com' });
    expect(checkEmail('josé@correo.españa.es')).toEqual({ ok: true, email: 'josé@correo.españa.es' });
  });

  it('an address without "@"', () => {
    expect(checkEmail('ana.example.com')).toEqual({ ok: false, error: 'NO_AT' });
    expect(checkEmail('ana')).toEqual({ ok: false, error: 'NO_AT' });
  });

  it('empty', () => {
    expect(checkEmail('')).toEqual({ ok: false, error: 'EMPTY' });
    expect(checkEmail('   ')).toEqual({ ok: false, error: 'EMPTY' });
  });

  it.each([
    '@example.com',
    'ana@',
    'ana@example',
    'ana@example.c',
    'ana@@example.com',
    'ana@exa mple.com',
    'an a@example.com',
    'ana@.example.com',
    'ana@example..com',
    'ana@-example.com',
    'ana@example-.com',
    '.ana@example.com',
    'ana.@example.com',
    'an..a@example.com',
    'ana@example.123',
    'ana@ex_ample.com',
  ])('%j is not an address', (s) => {
    expect(checkEmail(s)).toEqual({ ok: false, error: 'INVALID' });
  });

  it('refuses what is too long', () => {
    expect(isValidEmail(`${'a'.repeat(65)}@example.com`)).toBe(false);
    expect(isValidEmail(`${'a'.repeat(64)}@example.com`)).toBe(true);
    expect(isValidEmail(`ana@${'a'.repeat(64)}.com`)).toBe(false);
  });

  it('has a message for every kind, in English and Spanish', () => {
    for (const key of Object.values(EMAIL_ERROR_KEYS)) {
      expect(t('en', key)).toMatch(/\w/);
      expect(t('es', key)).toMatch(/\w/);
      expect(t('es', key)).not.toBe(t('en', key));
    }
    expect(t('en', EMAIL_ERROR_KEYS.NO_AT)).toContain('@');
    expect(t('es', EMAIL_ERROR_KEYS.NO_AT)).toContain('@');
  });
});
