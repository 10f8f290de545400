import { describe, expect, it } from 'vitest';
import { applyKey, keyId, layout, type Key } from './keyboard';
import { parseThreshold } from './settings';

const find = (mode: Parameters<typeof layout>[0], id: string): Key => layout(mode).flat().find((k) => k.id === id)!;

describe('on-screen keyboard', () => {
  it('email layout has letters, digits, symbols and .com', () => {
    const ids = layout('email').flat().map((k) => k.id);
    for (const id of ['a', 'z', '0', '9', 'at', 'dot', 'underscore', 'dash', 'plus', 'dotcom', 'backspace', 'clear']) expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('types an address', () => {
    let v = '';
    for (const id of ['a', 'n', 'a', 'at', 'x']) v = applyKey(v, find('email', id), false).value;
    v = applyKey(v, find('email', 'dotcom'), false).value;
    expect(v).toBe('ana@x.com');
    expect(applyKey(v, find('email', 'backspace'), false).value).toBe('ana@x.co');
    expect(applyKey(v, find('email', 'clear'), false).value).toBe('');
  });

  it('shift capitalises one letter; space is not doubled', () => {
    let r = applyKey('', find('text', 'a'), true);
    expect(r).toEqual({ value: 'A', shift: false });
    r = applyKey('Ana', find('text', 'space'), false);
    r = applyKey(r.value, find('text', 'space'), false);
    expect(r.value).toBe('Ana ');
    expect(applyKey('', find('text', 'space'), false).value).toBe('');
    expect(applyKey('Garc', find('text', 'i-acute'), false).value).toBe('Garcí');
  });

  it('respects the maximum length', () => {
    expect(applyKey('abc', find('email', 'dotcom'), false, 5).value).toBe('abc');
  });

  it('ids are ASCII', () => {
    expect(keyId('@')).toBe('at');
    expect(keyId('ñ')).toBe('n-tilde');
    for (const mode of ['email', 'text', 'id', 'url'] as const)
      for (const k of layout(mode).flat()) expect(k.id).toMatch(/^[a-z0-9-]+$/);
  });
});

describe('settings thresholds', () => {
  it('parses numbers in [0,1]', () => {
    expect(parseThreshold('0.36')).toBe(0.36);
    expect(parseThreshold('0,6')).toBe(0.6);
    expect(parseThreshold('1')).toBe(1);
    expect(parseThreshold('.5')).toBe(0.5);
    expect(parseThreshold('1.5')).toBeNull();
    expect(parseThreshold('abc')).toBeNull();
    expect(parseThreshold('')).toBeNull();
  });
});

describe('country search keyboard', () => {
  it('has every letter and digit, space, backspace and clear, six keys a row at most', () => {
    const rows = layout('search');
    const ids = rows.flat().map((k) => k.id);
    for (const c of 'abcdefghijklmnopqrstuvwxyz0123456789') expect(ids).toContain(c);
    for (const id of ['space', 'backspace', 'clear']) expect(ids).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const row of rows) expect(row.length).toBeLessThanOrEqual(6);
    for (const k of rows.flat()) expect(k.id).toMatch(/^[a-z0-9-]+$/);
  });

  it('types a search', () => {
    let v = '';
    for (const id of ['s', 'p', 'a', 'i', 'n']) v = applyKey(v, find('search', id), false, 40).value;
    expect(v).toBe('spain');
    expect(applyKey(v, find('search', 'backspace'), false).value).toBe('spai');
    expect(applyKey(v, find('search', 'clear'), false).value).toBe('');
  });
});
