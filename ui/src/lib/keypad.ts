// The number keypad: its keys, and "+" by a long press on 0 (as on a phone) or its own key.

export type KeypadKind = 'digit' | 'plus' | 'backspace' | 'clear';

export interface KeypadKey {
  kind: KeypadKind;
  /** The digit, "+" for plus, "" otherwise. */
  value: string;
  /** Suffix of the data-testid: keypad-<id>. */
  id: string;
  /** Spans the keypad's three columns. */
  wide?: boolean;
}

const digit = (d: string): KeypadKey => ({ kind: 'digit', value: d, id: d });
const BACKSPACE: KeypadKey = { kind: 'backspace', value: '', id: 'backspace' };
const CLEAR: KeypadKey = { kind: 'clear', value: '', id: 'clear' };

/**
 * 1–9, then "clear 0 ⌫"; with `plus` (the phone screen), "+ 0 ⌫" and a wide clear below, so an
 * international number can be typed without a hardware keyboard.
 */
export function keypadKeys(plus: boolean): KeypadKey[] {
  const keys = [...'123456789'].map(digit);
  if (!plus) return [...keys, CLEAR, digit('0'), BACKSPACE];
  return [...keys, { kind: 'plus', value: '+', id: 'plus' }, digit('0'), BACKSPACE, { ...CLEAR, wide: true }];
}

/** How long 0 is held to type "+". */
export const LONG_PRESS_MS = 550;

/**
 * A key that does something else when held: `down` starts the timer, `up`/`cancel` stop it, and
 * `click` says whether the click that follows the press is the ordinary one (false right after a
 * long press, which already acted).
 */
export class LongPress {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private fired = false;

  constructor(
    private readonly onlong: () => void,
    private readonly ms = LONG_PRESS_MS,
  ) {}

  down(): void {
    this.stop();
    this.fired = false;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fired = true;
      this.onlong();
    }, this.ms);
  }

  up(): void {
    this.stop();
  }

  /**
   * The pointer left the key or the press was taken over. A touch leaves the key before its
   * click arrives, so a long press that already acted is still remembered (the next press
   * starts afresh).
   */
  cancel(): void {
    this.stop();
  }

  /** True when the click should act as a plain press. */
  click(): boolean {
    const plain = !this.fired;
    this.fired = false;
    return plain;
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
