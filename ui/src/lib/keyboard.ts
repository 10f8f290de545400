// On-screen keyboard layouts and how a key changes a field's value.

export type KeyKind = 'char' | 'backspace' | 'clear' | 'shift' | 'space';

export interface Key {
  /** Text inserted (for 'char'), e.g. "a", "@", ".com". */
  value: string;
  kind: KeyKind;
  /** Suffix of the data-testid: keyboard-key-<id>. */
  id: string;
  /** Wider key. */
  wide?: boolean;
}

const SYMBOL_IDS: Record<string, string> = {
  '@': 'at',
  '.': 'dot',
  _: 'underscore',
  '-': 'dash',
  '+': 'plus',
  '.com': 'dotcom',
  ':': 'colon',
  '/': 'slash',
  "'": 'apostrophe',
  á: 'a-acute',
  é: 'e-acute',
  í: 'i-acute',
  ó: 'o-acute',
  ú: 'u-acute',
  ñ: 'n-tilde',
  ü: 'u-umlaut',
};

export function keyId(value: string): string {
  return SYMBOL_IDS[value] ?? value.toLowerCase();
}

function chars(s: string): Key[] {
  return [...s].map((c) => ({ value: c, kind: 'char', id: keyId(c) }));
}

export type KeyboardMode = 'email' | 'text' | 'id' | 'url' | 'search';

function rowsOf(keys: Key[], n: number): Key[][] {
  const rows: Key[][] = [];
  for (let i = 0; i < keys.length; i += n) rows.push(keys.slice(i, i + n));
  return rows;
}

export function layout(mode: KeyboardMode): Key[][] {
  const digits = chars('1234567890');
  const back: Key = { value: '', kind: 'backspace', id: 'backspace', wide: true };
  const clear: Key = { value: '', kind: 'clear', id: 'clear', wide: true };
  if (mode === 'email') {
    return [
      digits,
      chars('qwertyuiop'),
      [...chars('asdfghjkl'), back],
      [...chars('zxcvbnm'), ...chars('@._-+')],
      [{ value: '.com', kind: 'char', id: 'dotcom', wide: true }, clear],
    ];
  }
  if (mode === 'search') {
    // Compact (six a row, beside the phone screen's fields): letters and digits, for a search by
    // name or calling code; accents are not needed (the search ignores them).
    return [
      ...rowsOf(chars('abcdefghijklmnopqrstuvwxyz1234567890'), 6),
      [{ value: ' ', kind: 'space', id: 'space', wide: true }, back, clear],
    ];
  }
  if (mode === 'url') {
    return [
      digits,
      chars('qwertyuiop'),
      [...chars('asdfghjkl'), back],
      [...chars('zxcvbnm'), ...chars(':/._-')],
      [clear],
    ];
  }
  if (mode === 'id') {
    return [
      digits,
      chars('qwertyuiop'),
      [...chars('asdfghjkl'), back],
      [...chars('zxcvbnm'), ...chars('._-')],
      [...chars('@'), clear],
    ];
  }
  return [
    digits,
    chars('qwertyuiop'),
    [...chars('asdfghjklñ'), back],
    [{ value: '', kind: 'shift', id: 'shift', wide: true }, ...chars('zxcvbnm'), ...chars("-.'")],
    [...chars('áéíóúü'), { value: ' ', kind: 'space', id: 'space', wide: true }, clear],
  ];
}

export interface KeyResult {
  value: string;
  shift: boolean;
}

/** Apply a key to a value (appending at the end; on-screen typing has no caret). */
export function applyKey(value: string, key: Key, shift: boolean, maxLength = 254): KeyResult {
  switch (key.kind) {
    case 'backspace':
      return { value: [...value].slice(0, -1).join(''), shift };
    case 'clear':
      return { value: '', shift };
    case 'shift':
      return { value, shift: !shift };
    case 'space':
      if (value.length === 0 || value.endsWith(' ')) return { value, shift };
      return { value: (value + ' ').slice(0, maxLength), shift };
    case 'char': {
      const text = shift ? key.value.toUpperCase() : key.value;
      if (value.length + text.length > maxLength) return { value, shift };
      // Shift applies to one letter, like a phone keyboard.
      return { value: value + text, shift: false };
    }
  }
}
