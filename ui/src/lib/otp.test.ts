import { describe, expect, it } from 'vitest';
import {
  applyBackspace,
  applyInput,
  applyKeypadBackspace,
  applyKeypadDigit,
  applyPaste,
  classifyVerifyError,
  codeOf,
  digitsOf,
  emptyBoxes,
  formatCountdown,
  isComplete,
  isValidEmail,
  maskIdentifier,
  normalizeCode,
  ResendTimer,
  secondsUntil,
} from './otp';

describe('code boxes', () => {
  it('typing a digit fills the box and advances', () => {
    const u = applyInput(emptyBoxes(), 0, '4');
    expect(u.boxes).toEqual(['4', '', '', '', '', '']);
    expect(u.focus).toBe(1);
  });

  it('ignores non-digits', () => {
    const u = applyInput(['1', '', '', '', '', ''], 1, 'a');
    expect(u.boxes).toEqual(['1', '', '', '', '', '']);
    expect(u.focus).toBe(1);
  });

  it('a second key into the same box spills into the next (WebDriver typing)', () => {
    let b = emptyBoxes();
    b = applyInput(b, 0, '1').boxes;
    const u = applyInput(b, 0, '12');
    expect(u.boxes.slice(0, 2)).toEqual(['1', '2']);
    expect(u.focus).toBe(2);
  });

  it('typing all six into the first box fills every box', () => {
    const u = applyInput(emptyBoxes(), 0, '123456');
    expect(codeOf(u.boxes)).toBe('123456');
    expect(u.focus).toBe(5);
  });

  it.each(['123456', '123 456', ' 123-456 ', '12 34 56'])('paste of %j fills all boxes', (text) => {
    const u = applyPaste(['9', '9', '', '', '', ''], 3, text);
    expect(codeOf(u.boxes)).toBe('123456');
    expect(isComplete(u.boxes)).toBe(true);
  });

  it('paste of a few digits fills from the box', () => {
    const u = applyPaste(['1', '2', '', '', '', ''], 2, '34');
    expect(u.boxes).toEqual(['1', '2', '3', '4', '', '']);
    expect(u.focus).toBe(4);
  });

  it('paste of more than six digits keeps the first six; non-digits only is ignored', () => {
    expect(codeOf(applyPaste(emptyBoxes(), 0, '1234567').boxes)).toBe('123456');
    expect(applyPaste(['1', '', '', '', '', ''], 1, 'abc').boxes).toEqual(['1', '', '', '', '', '']);
  });

  it('backspace clears the box, or the previous one when empty', () => {
    const full = ['1', '2', '3', '', '', ''];
    expect(applyBackspace(full, 2)).toEqual({ boxes: ['1', '2', '', '', '', ''], focus: 2 });
    expect(applyBackspace(full, 3)).toEqual({ boxes: ['1', '2', '', '', '', ''], focus: 2 });
    expect(applyBackspace(emptyBoxes(), 0)).toEqual({ boxes: emptyBoxes(), focus: 0 });
  });

  it('keypad fills the first empty box and backspace clears the last filled', () => {
    let b = emptyBoxes();
    for (const d of '1234567') b = applyKeypadDigit(b, d).boxes;
    expect(codeOf(b)).toBe('123456');
    b = applyKeypadBackspace(b).boxes;
    expect(b).toEqual(['1', '2', '3', '4', '5', '']);
    expect(isComplete(b)).toBe(false);
  });
});

describe('codes as people type or paste them', () => {
  it.each([
    ['123456', '123456'],
    ['123 456', '123456'],
    ['123-456', '123456'],
    [' 12 34 56 ', '123456'],
    ['123\u00a0456', '123456'],
    ['123\u2013456', '123456'],
    ['１２３４５６', '123456'],
    ['１２３ ４５６', '123456'],
    ['１２３－４５６', '123456'],
    ['١٢٣٤٥٦', '123456'],
    ['۱۲۳۴۵۶', '123456'],
    ['१२३४५६', '123456'],
    ['\u{1D7CF}\u{1D7D0}\u{1D7D1}\u{1D7D2}\u{1D7D3}\u{1D7D4}', '123456'],
  ])('%j is the code %s', (text, code) => {
    expect(normalizeCode(text)).toBe(code);
  });

  it.each(['12345', '1234567', '123 45', '123-4567', '', '      ', '12a456', '123.456', '１２３４５'])('%j is not a code', (text) => {
    expect(normalizeCode(text)).toBeNull();
  });

  it('digitsOf keeps full-width and other scripts’ digits as ASCII', () => {
    expect(digitsOf('１２３４５６')).toBe('123456');
    expect(digitsOf('٠١٢٣٤٥٦٧٨٩')).toBe('0123456789');
    expect(digitsOf('০১২৩৪৫৬৭৮৯')).toBe('0123456789');
    expect(digitsOf('a1-b2')).toBe('12');
  });

  it('a full-width or spaced code pasted or typed fills the boxes', () => {
    expect(codeOf(applyPaste(emptyBoxes(), 0, '１２３ ４５６').boxes)).toBe('123456');
    expect(codeOf(applyPaste(emptyBoxes(), 2, '١٢٣-٤٥٦').boxes)).toBe('123456');
    expect(codeOf(applyInput(emptyBoxes(), 0, '１２３４５６').boxes)).toBe('123456');
    expect(applyKeypadDigit(emptyBoxes(), '７').boxes[0]).toBe('7');
  });
});

describe('countdown', () => {
  const now = Date.parse('2025-11-26T10:00:00Z');
  it('counts whole seconds to expires_at', () => {
    expect(secondsUntil('2025-11-26T10:05:00Z', now)).toBe(300);
    expect(secondsUntil('2025-11-26T10:00:00.400Z', now)).toBe(1);
    expect(secondsUntil('2025-11-26T11:00:00+01:00', now)).toBe(0);
    expect(secondsUntil('2025-11-26T09:59:00Z', now)).toBe(0);
    expect(secondsUntil('not a date', now)).toBeNull();
  });

  it('formats m:ss', () => {
    expect(formatCountdown(300)).toBe('5:00');
    expect(formatCountdown(125)).toBe('2:05');
    expect(formatCountdown(9)).toBe('0:09');
    expect(formatCountdown(-3)).toBe('0:00');
  });
});

describe('resend', () => {
  it('allows resend 30 s after a send by default', () => {
    const r = new ResendTimer(0);
    expect(r.canResend(0)).toBe(false);
    expect(r.secondsLeft(1)).toBe(30);
    expect(r.secondsLeft(29_001)).toBe(1);
    expect(r.canResend(30_000)).toBe(true);
  });

  it('waits retry_after_s after RATE_LIMITED', () => {
    const r = new ResendTimer(0);
    r.rateLimited(40_000, 90);
    expect(r.canResend(40_000)).toBe(false);
    expect(r.secondsLeft(40_000)).toBe(90);
    expect(r.canResend(130_000)).toBe(true);
  });

  it('falls back to 30 s when RATE_LIMITED has no retry_after_s', () => {
    const r = new ResendTimer(0);
    r.rateLimited(100_000, null);
    expect(r.secondsLeft(100_000)).toBe(30);
  });

  it('a new send restarts the wait; expiry allows it at once', () => {
    const r = new ResendTimer(0);
    r.sent(31_000);
    expect(r.canResend(31_000)).toBe(false);
    r.allowNow(35_000);
    expect(r.canResend(35_000)).toBe(true);
  });
});

describe('verify errors', () => {
  it('classifies the codes', () => {
    expect(classifyVerifyError({ code: 'INVALID_OTP', message: '', details: { attempts_remaining: 2 } })).toEqual({ kind: 'retry', attempts: 2 });
    expect(classifyVerifyError({ code: 'INVALID_OTP', message: 'bad', details: undefined })).toEqual({ kind: 'retry', attempts: null });
    expect(classifyVerifyError({ code: 'OTP_EXPIRED', message: '', details: undefined }).kind).toBe('expired');
    expect(classifyVerifyError({ code: 'MAX_ATTEMPTS_EXCEEDED', message: '', details: undefined }).kind).toBe('locked');
    expect(classifyVerifyError({ code: 'RATE_LIMITED', message: '', details: { retry_after_s: 20 } })).toEqual({ kind: 'rate_limited', retryAfterS: 20 });
    expect(classifyVerifyError({ code: 'OTP_ALREADY_USED', message: '', details: undefined }).kind).toBe('restart');
    expect(classifyVerifyError({ code: 'X', message: '', details: undefined }).kind).toBe('other');
  });
});

describe('email and masking', () => {
  it('validates emails loosely', () => {
    expect(isValidEmail('ana@example.com')).toBe(true);
    expect(isValidEmail(' a.b+c@x-y.co ')).toBe(true);
    expect(isValidEmail('ana@example')).toBe(false);
    expect(isValidEmail('ana example.com')).toBe(false);
    expect(isValidEmail('@example.com')).toBe(false);
  });

  it('masks identifiers', () => {
    expect(maskIdentifier('ana@example.com')).toBe('an•@example.com');
    expect(maskIdentifier('+34612345678')).toBe('+34••••••678');
  });
});
