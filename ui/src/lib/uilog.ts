// The webview's errors reach kiosk.log: uncaught exceptions, rejected promises and
// console.error / console.warn are sent to the shell's `ui_log` command. A kiosk has no
// developer tools open; without this a blank or stuck screen leaves no trace on the device.
//
// At most MAX_PER_MINUTE messages a minute are sent (an error in a render loop would
// otherwise flood the log); a failure to send is never itself sent (no loop).

export type Level = 'warn' | 'error';
export type Send = (level: Level, message: string) => Promise<unknown>;

export const MAX_PER_MINUTE = 30;

/** Text for any thrown value or console argument. */
export function describe(v: unknown): string {
  if (v instanceof Error) return v.stack && v.stack.includes(v.message) ? v.stack : `${v.name}: ${v.message}\n${v.stack ?? ''}`.trim();
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A sender that keeps to MAX_PER_MINUTE and says once how many it dropped. */
export function limited(send: Send, now: () => number = Date.now): (level: Level, message: string) => void {
  let windowStart = now();
  let sent = 0;
  let dropped = 0;
  return (level, message) => {
    const t = now();
    if (t - windowStart >= 60_000) {
      if (dropped > 0) void send('warn', `${dropped} more webview messages were not logged`).catch(() => {});
      windowStart = t;
      sent = 0;
      dropped = 0;
    }
    if (sent >= MAX_PER_MINUTE) {
      dropped += 1;
      return;
    }
    sent += 1;
    void send(level, message).catch(() => {});
  };
}

/** Installs the forwarding on `target` (the window) and its console. */
export function forwardErrors(
  send: Send,
  target: Pick<Window, 'addEventListener'> = window,
  con: Pick<Console, 'error' | 'warn'> = console,
): void {
  const log = limited(send);
  target.addEventListener('error', (e: Event) => {
    const ev = e as ErrorEvent;
    const where = ev.filename ? ` (${ev.filename}:${ev.lineno}:${ev.colno})` : '';
    log('error', `uncaught: ${ev.error !== undefined ? describe(ev.error) : ev.message}${where}`);
  });
  target.addEventListener('unhandledrejection', (e: Event) => {
    log('error', `unhandled rejection: ${describe((e as PromiseRejectionEvent).reason)}`);
  });
  for (const level of ['error', 'warn'] as const) {
    const original = con[level].bind(con);
    con[level] = (...args: unknown[]) => {
      original(...args);
      log(level, args.map(describe).join(' '));
    };
  }
}
