// Idle reset: back to Home after a quiet period, never while a sign-in is in progress.

export const DEFAULT_IDLE_RESET_S = 60;

export class IdleTracker {
  private lastActivityMs: number;
  private timeoutMs: number;

  constructor(nowMs: number, timeoutS = DEFAULT_IDLE_RESET_S) {
    this.lastActivityMs = nowMs;
    this.timeoutMs = IdleTracker.sanitize(timeoutS) * 1000;
  }

  private static sanitize(s: number): number {
    return Number.isFinite(s) && s > 0 ? s : DEFAULT_IDLE_RESET_S;
  }

  setTimeout(timeoutS: number): void {
    this.timeoutMs = IdleTracker.sanitize(timeoutS) * 1000;
  }

  /** Any touch, key or input. */
  touch(nowMs: number): void {
    this.lastActivityMs = nowMs;
  }

  secondsIdle(nowMs: number): number {
    return Math.max(0, (nowMs - this.lastActivityMs) / 1000);
  }

  /**
   * True when the screen should go back to Home now. A busy screen (a request in flight) is
   * never reset, and the quiet period restarts when it becomes idle again; Home needs no reset.
   */
  shouldReset(nowMs: number, opts: { busy: boolean; atHome: boolean }): boolean {
    if (opts.busy) {
      this.lastActivityMs = nowMs;
      return false;
    }
    if (opts.atHome) return false;
    return nowMs - this.lastActivityMs >= this.timeoutMs;
  }
}
