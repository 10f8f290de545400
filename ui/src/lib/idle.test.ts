import { describe, expect, it } from 'vitest';
import { IdleTracker } from './idle';

describe('idle reset', () => {
  it('resets after the configured quiet period', () => {
    const t = new IdleTracker(0, 60);
    expect(t.shouldReset(59_999, { busy: false, atHome: false })).toBe(false);
    expect(t.shouldReset(60_000, { busy: false, atHome: false })).toBe(true);
  });

  it('activity restarts the period', () => {
    const t = new IdleTracker(0, 60);
    t.touch(50_000);
    expect(t.shouldReset(100_000, { busy: false, atHome: false })).toBe(false);
    expect(t.shouldReset(110_000, { busy: false, atHome: false })).toBe(true);
  });

  it('never resets while busy, and counts from when it stops being busy', () => {
    const t = new IdleTracker(0, 10);
    expect(t.shouldReset(20_000, { busy: true, atHome: false })).toBe(false);
    expect(t.shouldReset(25_000, { busy: false, atHome: false })).toBe(false);
    expect(t.shouldReset(30_000, { busy: false, atHome: false })).toBe(true);
  });

  it('does nothing at home', () => {
    const t = new IdleTracker(0, 10);
    expect(t.shouldReset(99_000, { busy: false, atHome: true })).toBe(false);
  });

  it('uses the config value and falls back to 60 s on nonsense', () => {
    const t = new IdleTracker(0, 60);
    t.setTimeout(5);
    expect(t.shouldReset(5_000, { busy: false, atHome: false })).toBe(true);
    t.setTimeout(0);
    expect(t.shouldReset(59_000, { busy: false, atHome: false })).toBe(false);
    t.setTimeout(Number.NaN);
    expect(t.shouldReset(60_000, { busy: false, atHome: false })).toBe(true);
  });
});
