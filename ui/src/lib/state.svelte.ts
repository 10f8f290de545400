// App-wide reactive state (Svelte 5 runes). Logic lives in the plain modules beside this one.
import type { Locale, OtpChannel, OtpSent, SyncStatus, UiConfig } from './api';
import { t, type MessageKey } from './i18n';

export type Screen =
  | { name: 'home' }
  | { name: 'email' }
  | { name: 'phone' }
  | { name: 'code'; channel: OtpChannel; to: string; sent: OtpSent; sentAtMs: number; back: 'email' | 'phone' }
  /** `claim`: who the person said they are; the face is then checked against them only. */
  | { name: 'face'; claim?: string }
  | { name: 'claim' }
  | { name: 'success'; who: string | null; identifier: string | null; mode: 'online' | 'offline' | null }
  | { name: 'failure'; reason: string; retryAfterS: number | null; message?: string }
  | { name: 'admin-login' }
  | { name: 'admin'; tab?: 'enroll' | 'users' | 'settings' };

export const ui = $state({
  lang: 'en' as Locale,
  config: null as UiConfig | null,
  configError: null as { code: string; message: string } | null,
  online: true,
  status: null as SyncStatus | null,
  /** Requests in flight that must not be interrupted by the idle reset. */
  busy: 0,
  screen: { name: 'home' } as Screen,
  /** Bumped by screens to count as user activity (e.g. a face in front of the camera). */
  activity: 0,
});

export function tr(key: MessageKey, params?: Record<string, string | number>): string {
  return t(ui.lang, key, params);
}

export function go(screen: Screen): void {
  ui.screen = screen;
}

export function goHome(): void {
  ui.screen = { name: 'home' };
}

/** Run a request that the idle reset must not interrupt. */
export async function busy<T>(p: Promise<T>): Promise<T> {
  ui.busy++;
  try {
    return await p;
  } finally {
    ui.busy--;
  }
}

export function touchActivity(): void {
  ui.activity++;
}

export function methodEnabled(m: 'face' | 'email' | 'phone'): boolean {
  const c = ui.config?.methods;
  if (!c) return false;
  if (m === 'phone') return c.sms || c.whatsapp;
  return c[m];
}

/** The screen "Use a code instead" leads to, or null when codes are off. */
export function codeScreen(): Screen | null {
  if (methodEnabled('email')) return { name: 'email' };
  if (methodEnabled('phone')) return { name: 'phone' };
  return null;
}
