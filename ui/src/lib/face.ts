// Face sign-in flow: preview, auto-trigger when the picture is good for a moment, result.
import type { ApiError, FaceResult, PreviewFrame } from './api';
import { retryAfterSeconds } from './i18n';

export const GOOD_QUALITY = 0.6;
export const AUTO_SIGN_IN_MS = 1000;
/** After a "retry" answer, wait this long before auto-triggering again. */
export const RETRY_COOLDOWN_MS = 1500;

export type FaceState = 'starting' | 'preview' | 'signing' | 'done';

export type FaceOutcome =
  | { kind: 'success'; userId: string | null; name: string | null; mode: 'online' | 'offline' }
  | { kind: 'failure'; reason: string; retryAfterS: number | null; message?: string }
  | { kind: 'retry'; guidance: string[] };

export function isGoodFrame(f: PreviewFrame): boolean {
  return f.face !== null && f.guidance.length === 0 && f.quality >= GOOD_QUALITY;
}

export class FaceFlow {
  state: FaceState = 'starting';
  frame: PreviewFrame | null = null;
  /** Guidance from the last "retry" answer, shown until the next good frame. */
  retryGuidance: string[] = [];
  private goodSinceMs: number | null = null;
  private cooldownUntilMs = 0;

  constructor(public auto = true) {}

  onFrame(f: PreviewFrame, nowMs: number): void {
    this.frame = f;
    if (this.state === 'starting') this.state = 'preview';
    if (isGoodFrame(f)) {
      if (this.goodSinceMs === null) this.goodSinceMs = nowMs;
      this.retryGuidance = [];
    } else {
      this.goodSinceMs = null;
    }
  }

  /** The guidance code to show now, most important first; null when all is well. */
  guidance(): string | null {
    if (this.frame && this.frame.guidance.length > 0) return this.frame.guidance[0];
    if (this.retryGuidance.length > 0) return this.retryGuidance[0];
    if (this.frame && this.frame.face === null) return 'NO_FACE';
    return null;
  }

  /**
   * Whether to tell the visitor all is well ("Hold still, that's good"): only for a frame good
   * enough to sign in on, never while the quality is still low without a named issue.
   */
  looksGood(): boolean {
    return this.guidance() === null && this.frame !== null && isGoodFrame(this.frame);
  }

  /** 0..1: how far along the ~1 s of good frames before auto sign-in. */
  readiness(nowMs: number): number {
    if (this.goodSinceMs === null) return 0;
    return Math.min(1, (nowMs - this.goodSinceMs) / AUTO_SIGN_IN_MS);
  }

  shouldAutoSignIn(nowMs: number): boolean {
    return (
      this.auto &&
      this.state === 'preview' &&
      nowMs >= this.cooldownUntilMs &&
      this.goodSinceMs !== null &&
      nowMs - this.goodSinceMs >= AUTO_SIGN_IN_MS
    );
  }

  canSignIn(): boolean {
    return this.state === 'preview' || this.state === 'starting';
  }

  begin(): boolean {
    if (!this.canSignIn()) return false;
    this.state = 'signing';
    return true;
  }

  finish(r: FaceResult, nowMs: number): FaceOutcome {
    if (r.decision === 'accepted') {
      this.state = 'done';
      return { kind: 'success', userId: r.user_id, name: r.name, mode: r.mode };
    }
    if (r.decision === 'retry') {
      this.state = 'preview';
      this.goodSinceMs = null;
      this.cooldownUntilMs = nowMs + RETRY_COOLDOWN_MS;
      this.retryGuidance = r.guidance;
      return { kind: 'retry', guidance: r.guidance };
    }
    this.state = 'done';
    return { kind: 'failure', reason: r.reason ?? 'NO_MATCH', retryAfterS: null };
  }

  fail(e: Pick<ApiError, 'code' | 'message' | 'details'>, nowMs: number): FaceOutcome {
    // Picture problems are guidance, not a failed sign-in.
    if (['NO_FACE', 'MULTIPLE_FACES', 'FACE_QUALITY', 'NO_FRAMES'].includes(e.code)) {
      this.state = 'preview';
      this.goodSinceMs = null;
      this.cooldownUntilMs = nowMs + RETRY_COOLDOWN_MS;
      this.retryGuidance = e.code === 'FACE_QUALITY' || e.code === 'NO_FRAMES' ? ['LOOK_STRAIGHT'] : [e.code];
      return { kind: 'retry', guidance: this.retryGuidance };
    }
    this.state = 'done';
    return {
      kind: 'failure',
      reason: e.code,
      retryAfterS: e.code === 'LOCKED_OUT' ? retryAfterSeconds(e) : null,
      message: e.message,
    };
  }
}
