import { describe, expect, it } from 'vitest';
import { dictionaries, errorText, translate } from './i18n.svelte';

describe('strings', () => {
  it('Spanish has every English key, and no empty text', () => {
    const en = Object.keys(dictionaries.en).sort();
    expect(Object.keys(dictionaries.es).sort()).toEqual(en);
    for (const l of ['en', 'es'] as const) {
      for (const [k, v] of Object.entries(dictionaries[l])) expect(v, `${l} ${k}`).not.toBe('');
    }
  });

  it('fills in placeholders', () => {
    expect(translate('es', 'people.erased', { user: 'u1', n: 3 })).toBe('u1 fue borrado (3 muestras).');
  });
});

describe('errors in words', () => {
  it('maps stable codes and reasons', () => {
    expect(errorText('en', { code: 'UNAUTHORIZED', details: { reason: 'credentials' } })).toBe(
      'Wrong email or password.',
    );
    expect(errorText('en', { code: 'UNAUTHORIZED', details: { reason: 'session' } })).toMatch(/session ended/);
    expect(errorText('es', { code: 'RATE_LIMITED', retryAfter: 4 })).toBe(
      'Demasiados intentos. Espere 4 segundos y vuelva a intentarlo.',
    );
    expect(errorText('en', { code: 'SOMETHING_NEW', message: 'boom' })).toBe('It did not work: boom');
  });
});
