import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keypadKeys, LONG_PRESS_MS, LongPress } from './keypad';
import { t } from './i18n';

describe('keypad keys', () => {
  it('the code screen: digits, clear, backspace, no +', () => {
    const ids = keypadKeys(false).map((k) => k.id);
    expect(ids).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'clear', '0', 'backspace']);
  });

  it('the phone screen: a + key beside 0, and clear across the bottom', () => {
    const keys = keypadKeys(true);
    expect(keys.map((k) => k.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', 'plus', '0', 'backspace', 'clear']);
    expect(keys.find((k) => k.id === 'plus')).toMatchObject({ kind: 'plus', value: '+' });
    expect(keys.find((k) => k.id === 'clear')?.wide).toBe(true);
    expect(t('en', 'kb.plus')).toContain('+');
    expect(t('es', 'kb.plus')).toContain('+');
  });
});

describe('holding 0 types +', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('a long press acts once, and the click after it is not a 0', () => {
    const plus = vi.fn();
    const lp = new LongPress(plus);
    lp.down();
    vi.advanceTimersByTime(LONG_PRESS_MS + 10);
    expect(plus).toHaveBeenCalledTimes(1);
    lp.up();
    // A touch leaves the key before the click arrives.
    lp.cancel();
    expect(lp.click()).toBe(false);
    // The next press is an ordinary 0 again.
    lp.down();
    vi.advanceTimersByTime(100);
    lp.up();
    expect(lp.click()).toBe(true);
    expect(plus).toHaveBeenCalledTimes(1);
  });

  it('a short press is a 0; leaving the key stops the timer', () => {
    const plus = vi.fn();
    const lp = new LongPress(plus);
    lp.down();
    vi.advanceTimersByTime(LONG_PRESS_MS - 100);
    lp.up();
    vi.advanceTimersByTime(1000);
    expect(plus).not.toHaveBeenCalled();
    expect(lp.click()).toBe(true);
    lp.down();
    lp.cancel();
    vi.advanceTimersByTime(1000);
    expect(plus).not.toHaveBeenCalled();
    // Keyboard activation: a click with no press at all.
    expect(lp.click()).toBe(true);
  });
});
