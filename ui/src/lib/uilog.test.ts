import { describe as suite, expect, it } from 'vitest';
import { describe, forwardErrors, limited, MAX_PER_MINUTE, type Level } from './uilog';

suite('uilog', () => {
  it('forwards uncaught errors, rejections and console errors with their text', async () => {
    const got: [Level, string][] = [];
    const listeners: Record<string, (e: Event) => void> = {};
    const target = { addEventListener: (t: string, f: (e: Event) => void) => (listeners[t] = f) };
    const printed: unknown[][] = [];
    const con = { error: (...a: unknown[]) => printed.push(a), warn: (...a: unknown[]) => printed.push(a) };
    forwardErrors(async (l, m) => got.push([l, m]), target as never, con);
    listeners['error']({ error: new TypeError('x is undefined'), filename: 'app.js', lineno: 3, colno: 9 } as never);
    listeners['unhandledrejection']({ reason: { code: 'OFFLINE' } } as never);
    con.error('camera failed', new Error('busy'));
    con.warn('slow frame', 120);
    expect(got[0][0]).toBe('error');
    expect(got[0][1]).toContain('uncaught: TypeError: x is undefined');
    expect(got[0][1]).toContain('(app.js:3:9)');
    expect(got[1]).toEqual(['error', 'unhandled rejection: {"code":"OFFLINE"}']);
    expect(got[2][0]).toBe('error');
    expect(got[2][1]).toContain('camera failed');
    expect(got[2][1]).toContain('busy');
    expect(got[3]).toEqual(['warn', 'slow frame 120']);
    // The console still prints.
    expect(printed.length).toBe(2);
  });

  it('keeps to its rate and says how many it dropped', () => {
    const got: string[] = [];
    let t = 0;
    const log = limited(async (_l, m) => got.push(m), () => t);
    for (let i = 0; i < MAX_PER_MINUTE + 5; i++) log('error', `e${i}`);
    expect(got.length).toBe(MAX_PER_MINUTE);
    t = 61_000;
    log('error', 'later');
    expect(got.slice(-2)).toEqual(['5 more webview messages were not logged', 'later']);
  });

  it('a failed send is not sent again', async () => {
    let calls = 0;
    const log = limited(async () => {
      calls += 1;
      throw new Error('no shell');
    });
    log('error', 'x');
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it('describes any value', () => {
    expect(describe('text')).toBe('text');
    expect(describe(42)).toBe('42');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describe(cyclic)).toBe('[object Object]');
  });
});
