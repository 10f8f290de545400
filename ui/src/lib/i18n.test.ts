import { describe, expect, it } from 'vitest';
import { attemptsRemaining, errorMessage, guidanceText, retryAfterSeconds, t } from './i18n';

describe('guidance codes', () => {
  it.each([
    ['FACE_TOO_SMALL', 'Move closer', 'Acércate'],
    ['FACE_CUT_OFF', 'Centre your face in the oval', 'Centra tu cara en el óvalo'],
    ['TOO_DARK', 'More light, please', 'Necesitamos más luz'],
    ['BLURRY', 'Hold still', 'Quédate quieto/a'],
    ['MULTIPLE_FACES', 'Only one person at a time', 'Solo una persona a la vez'],
    ['NO_FACE', 'Look at the camera', 'Mira a la cámara'],
  ])('%s', (code, en, es) => {
    expect(guidanceText(code, 'en')).toBe(en);
    expect(guidanceText(code, 'es')).toBe(es);
  });

  it('has text for every listed code and a fallback for unknown ones', () => {
    for (const c of ['TOO_BRIGHT', 'LOOK_STRAIGHT', 'HEAD_TILTED']) {
      expect(guidanceText(c, 'en')).not.toBe(guidanceText('SOMETHING_NEW', 'en'));
      expect(guidanceText(c, 'es')).not.toBe(guidanceText('SOMETHING_NEW', 'es'));
    }
    expect(guidanceText('SOMETHING_NEW', 'en')).toBe('Adjust your position');
  });
});

describe('error messages', () => {
  const e = (code: string, message = '', details?: Record<string, unknown>) => ({ code, message, details });

  it('maps OTP errors in both languages', () => {
    expect(errorMessage(e('INVALID_OTP'), 'en')).toBe('That code is not right.');
    expect(errorMessage(e('INVALID_OTP'), 'es')).toBe('El código no es correcto.');
    expect(errorMessage(e('OTP_EXPIRED'), 'en')).toMatch(/expired/);
    expect(errorMessage(e('OTP_EXPIRED'), 'es')).toMatch(/caducado/);
    expect(errorMessage(e('MAX_ATTEMPTS_EXCEEDED'), 'en')).toMatch(/Too many wrong codes/);
    expect(errorMessage(e('MAX_ATTEMPTS_EXCEEDED'), 'es')).toMatch(/Demasiados códigos/);
    expect(errorMessage(e('UNAVAILABLE_OFFLINE'), 'en')).toMatch(/Unavailable offline/);
    expect(errorMessage(e('UNAVAILABLE_OFFLINE'), 'es')).toMatch(/sin conexión/);
  });

  it('maps face errors in both languages', () => {
    expect(errorMessage('NO_MATCH', 'en')).toBe('We did not recognise you.');
    expect(errorMessage('NO_MATCH', 'es')).toBe('No te hemos reconocido.');
    expect(errorMessage('NOT_ENROLLED', 'es')).toMatch(/registrada/);
    // The liveness step in words a visitor knows, not "liveness".
    expect(errorMessage('LIVENESS_FAILED', 'en')).toMatch(/really you/);
    expect(errorMessage('LIVENESS_FAILED', 'en')).not.toMatch(/liveness/i);
  });

  it('counts the admin PIN delay down in both languages', () => {
    expect(errorMessage(e('ADMIN_PIN_LOCKED', 'x', { retry_after_s: 30 }), 'en')).toBe('Too many wrong PINs. Try again in 30\u00a0s.');
    expect(errorMessage(e('ADMIN_PIN_LOCKED', 'x', { retry_after_s: 7 }), 'es')).toMatch(/en 7\u00a0s/);
    expect(errorMessage(e('OFFLINE_TOO_LONG', 'x'), 'en')).toMatch(/offline too long.*staff/);
  });

  it('puts the seconds into LOCKED_OUT and RATE_LIMITED', () => {
    expect(errorMessage(e('LOCKED_OUT', 'too many failed attempts: try again in 27 s, or use a code instead'), 'en')).toBe(
      'Too many failed attempts. Try again in 27\u00a0s, or use a code instead.',
    );
    expect(errorMessage(e('LOCKED_OUT', 'x', { retry_after_s: 12 }), 'es')).toMatch(/en 12\u00a0s/);
    expect(errorMessage(e('LOCKED_OUT', 'locked'), 'en')).toMatch(/later/);
    expect(errorMessage(e('RATE_LIMITED', 'slow down', { retry_after_s: 45 }), 'en')).toBe('Too many requests. Please wait 45\u00a0s.');
    expect(errorMessage(e('RATE_LIMITED', 'slow down'), 'es')).toBe('Demasiadas solicitudes. Espera un momento.');
  });

  it('names the other user for ALREADY_ENROLLED', () => {
    expect(errorMessage(e('ALREADY_ENROLLED', 'already enrolled as bob'), 'en')).toMatch(/already enrolled as bob/);
  });

  it('falls back to a generic message with the code', () => {
    expect(errorMessage(e('WEIRD_THING', 'x'), 'en')).toBe('Something went wrong (WEIRD_THING).');
    expect(errorMessage(e('WEIRD_THING', 'x'), 'es')).toBe('Algo salió mal (WEIRD_THING).');
  });

  it('speaks to the visitor as tú, inclusively, and greets by name', () => {
    expect(t('es', 'home.choose')).toBe('¿Cómo quieres identificarte?');
    expect(t('es', 'face.ready')).toBe('Quédate quieto/a, así está bien');
    expect(t('es', 'result.welcome', { name: 'Ana' })).toBe('¡Hola, Ana!');
    expect(t('es', 'admin.open')).not.toBe('Personal');
    expect(t('en', 'face.liveness')).toBe('Checking it’s really you');
    expect(t('es', 'face.liveness')).toBe('Comprobando que eres tú');
  });

  it('has every key in Spanish', () => {
    expect(t('es', 'send.code')).toBe('Enviar código');
    expect(t('en', 'code.attempts', { n: 3 })).toBe('3 attempts left');
  });
});

describe('details parsing', () => {
  it('reads retry_after_s from details or the message', () => {
    expect(retryAfterSeconds({ details: { retry_after_s: 4.2 } })).toBe(5);
    expect(retryAfterSeconds({ message: 'try again in 30 s' })).toBe(30);
    expect(retryAfterSeconds({ message: 'retry after 9 seconds' })).toBe(9);
    expect(retryAfterSeconds({ message: 'nope' })).toBeNull();
  });

  it('reads attempts_remaining from details or the message', () => {
    expect(attemptsRemaining({ details: { attempts_remaining: 2 } })).toBe(2);
    expect(attemptsRemaining({ message: 'invalid code, 3 attempts remaining' })).toBe(3);
    expect(attemptsRemaining({ message: 'invalid code (attempts_remaining: 1)' })).toBe(1);
    expect(attemptsRemaining({ message: 'invalid code' })).toBeNull();
  });
});
