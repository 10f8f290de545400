import { describe, expect, it } from 'vitest';
import type { FaceResult, PreviewFrame } from './api';
import { AUTO_SIGN_IN_MS, FaceFlow, RETRY_COOLDOWN_MS } from './face';

const frame = (over: Partial<PreviewFrame> = {}): PreviewFrame => ({
  seq: 1,
  width: 640,
  height: 480,
  jpeg_b64: '',
  face: { x: 200, y: 100, w: 200, h: 260, score: 0.9 },
  guidance: [],
  quality: 0.9,
  liveness: 0.8,
  fps: 15,
  ...over,
});

const result = (over: Partial<FaceResult>): FaceResult => ({
  decision: 'accepted',
  user_id: 'ana',
  name: 'Ana',
  score: 0.7,
  liveness: 0.9,
  mode: 'online',
  reason: null,
  guidance: [],
  frames: 5,
  failures: 0,
  ...over,
});

describe('face flow', () => {
  it('says all is well only when the frame is good enough to sign in on', () => {
    const f = new FaceFlow();
    for (const quality of [0.4, 0.5, 0.59]) {
      f.onFrame(frame({ quality }), 0);
      expect(f.guidance()).toBeNull();
      expect(f.looksGood()).toBe(false);
    }
    f.onFrame(frame({ quality: 0.6 }), 0);
    expect(f.looksGood()).toBe(true);
    f.onFrame(frame({ quality: 0.9, guidance: ['BLURRY'] }), 0);
    expect(f.looksGood()).toBe(false);
    f.onFrame(frame({ face: null, guidance: [] }), 0);
    expect(f.looksGood()).toBe(false);
  });

  it('auto signs in after about a second of good frames', () => {
    const f = new FaceFlow();
    f.onFrame(frame(), 0);
    expect(f.state).toBe('preview');
    expect(f.shouldAutoSignIn(AUTO_SIGN_IN_MS - 1)).toBe(false);
    f.onFrame(frame(), 500);
    expect(f.readiness(500)).toBeCloseTo(0.5);
    expect(f.shouldAutoSignIn(AUTO_SIGN_IN_MS)).toBe(true);
  });

  it('a bad frame restarts the wait and shows its guidance', () => {
    const f = new FaceFlow();
    f.onFrame(frame(), 0);
    f.onFrame(frame({ guidance: ['TOO_DARK', 'BLURRY'], quality: 0.3 }), 800);
    expect(f.guidance()).toBe('TOO_DARK');
    expect(f.shouldAutoSignIn(1200)).toBe(false);
    f.onFrame(frame(), 900);
    expect(f.shouldAutoSignIn(1899)).toBe(false);
    expect(f.shouldAutoSignIn(1900)).toBe(true);
  });

  it('no face means "look at the camera"', () => {
    const f = new FaceFlow();
    f.onFrame(frame({ face: null, quality: 0 }), 0);
    expect(f.guidance()).toBe('NO_FACE');
  });

  it('low quality without codes is not good enough', () => {
    const f = new FaceFlow();
    f.onFrame(frame({ quality: 0.3 }), 0);
    expect(f.shouldAutoSignIn(5000)).toBe(false);
  });

  it('does not auto sign in when auto is off or while signing', () => {
    const off = new FaceFlow(false);
    off.onFrame(frame(), 0);
    expect(off.shouldAutoSignIn(5000)).toBe(false);
    const f = new FaceFlow();
    f.onFrame(frame(), 0);
    expect(f.begin()).toBe(true);
    expect(f.begin()).toBe(false);
    expect(f.shouldAutoSignIn(5000)).toBe(false);
  });

  it('accepted gives the name', () => {
    const f = new FaceFlow();
    f.onFrame(frame(), 0);
    f.begin();
    expect(f.finish(result({}), 100)).toEqual({ kind: 'success', userId: 'ana', name: 'Ana', mode: 'online' });
    expect(f.state).toBe('done');
  });

  it('rejected gives the reason', () => {
    const f = new FaceFlow();
    f.begin();
    expect(f.finish(result({ decision: 'rejected', reason: 'LIVENESS_FAILED' }), 0)).toMatchObject({ kind: 'failure', reason: 'LIVENESS_FAILED' });
    const g = new FaceFlow();
    g.begin();
    expect(g.finish(result({ decision: 'rejected' }), 0)).toMatchObject({ reason: 'NO_MATCH' });
  });

  it('retry returns to preview with guidance and a cooldown', () => {
    const f = new FaceFlow();
    f.onFrame(frame(), 0);
    f.begin();
    const o = f.finish(result({ decision: 'retry', guidance: ['LOOK_STRAIGHT'] }), 2000);
    expect(o).toEqual({ kind: 'retry', guidance: ['LOOK_STRAIGHT'] });
    expect(f.state).toBe('preview');
    f.onFrame(frame({ guidance: [] }), 2000);
    // Good for a second, but still inside the cooldown after a retry answer.
    expect(f.shouldAutoSignIn(2000 + RETRY_COOLDOWN_MS - 1)).toBe(false);
    expect(f.shouldAutoSignIn(2000 + Math.max(AUTO_SIGN_IN_MS, RETRY_COOLDOWN_MS))).toBe(true);
  });

  it('LOCKED_OUT is a failure with seconds; NO_FACE is guidance', () => {
    const f = new FaceFlow();
    f.begin();
    expect(f.fail({ code: 'LOCKED_OUT', message: 'too many failed attempts: try again in 28 s, or use a code instead', details: undefined }, 0)).toMatchObject({
      kind: 'failure',
      reason: 'LOCKED_OUT',
      retryAfterS: 28,
    });
    const g = new FaceFlow();
    g.begin();
    expect(g.fail({ code: 'NO_FACE', message: '', details: undefined }, 0)).toEqual({ kind: 'retry', guidance: ['NO_FACE'] });
    expect(g.state).toBe('preview');
  });
});
