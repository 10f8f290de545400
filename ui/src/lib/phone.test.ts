import { describe, expect, it } from 'vitest';
import { COUNTRIES, toE164 } from './phone';

describe('E.164', () => {
  it('joins country code and number, dropping spaces and punctuation', () => {
    expect(toE164('+34', '612 34 56 78')).toEqual({ ok: true, e164: '+34612345678' });
    expect(toE164('1', '(415) 555-0123')).toEqual({ ok: true, e164: '+14155550123' });
    expect(toE164('52', '55.1234.5678')).toEqual({ ok: true, e164: '+525512345678' });
    expect(toE164('57', '3001234567')).toEqual({ ok: true, e164: '+573001234567' });
    expect(toE164('55', '11 91234 5678')).toEqual({ ok: true, e164: '+5511912345678' });
  });

  it('drops a national trunk 0', () => {
    expect(toE164('44', '07700 900123')).toEqual({ ok: true, e164: '+447700900123' });
    expect(toE164('49', '030 123456')).toEqual({ ok: true, e164: '+4930123456' });
    expect(toE164('33', '06 12 34 56 78')).toEqual({ ok: true, e164: '+33612345678' });
  });

  it('takes a number typed with + or 00 as international', () => {
    expect(toE164('1', '+34 612345678')).toEqual({ ok: true, e164: '+34612345678' });
    expect(toE164('1', '0034 612345678')).toEqual({ ok: true, e164: '+34612345678' });
  });

  it('rejects empty, short and long numbers', () => {
    expect(toE164('34', '')).toEqual({ ok: false, error: 'EMPTY' });
    expect(toE164('34', '6123')).toEqual({ ok: false, error: 'TOO_SHORT' });
    expect(toE164('34', '6123456789')).toEqual({ ok: false, error: 'TOO_LONG' });
    expect(toE164('1', '+1234')).toEqual({ ok: false, error: 'TOO_SHORT' });
    expect(toE164('1', '+1234567890123456')).toEqual({ ok: false, error: 'TOO_LONG' });
  });

  it('lists the required countries', () => {
    expect(COUNTRIES.map((c) => c.code)).toEqual(['1', '34', '52', '57', '44', '49', '33', '55']);
  });
});
