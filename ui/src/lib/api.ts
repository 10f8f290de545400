// The only module that talks to the Rust shell. Every command goes through `call`, which turns a
// rejected invoke into an `ApiError {code, message, details}`.
//
// The shapes that cross are generated from the Rust types (ts-rs) into ./bindings: never edit
// those files; after changing a Rust type, run
//   cargo test -p access-kiosk-app export_bindings -- --ignored
// (`cargo test` fails while they are stale). Arguments are sent in snake_case, as every command
// says `rename_all = "snake_case"`.
import { invoke, Channel } from '@tauri-apps/api/core';
import type { CapturedSample } from './bindings/CapturedSample';
import type { Deleted } from './bindings/Deleted';
import type { EnrolSaved } from './bindings/EnrolSaved';
import type { FaceResult } from './bindings/FaceResult';
import type { LiveSettings } from './bindings/LiveSettings';
import type { OtpChannel } from './bindings/OtpChannel';
import type { OtpSent } from './bindings/OtpSent';
import type { OtpVerified } from './bindings/OtpVerified';
import type { Paired } from './bindings/Paired';
import type { PreviewFrame } from './bindings/PreviewFrame';
import type { SettingsFile } from './bindings/SettingsFile';
import type { SyncStatus } from './bindings/SyncStatus';
import type { UiConfig } from './bindings/UiConfig';
import type { UiError } from './bindings/UiError';
import type { UserRow } from './bindings/UserRow';

export type { CapturedSample, Deleted, EnrolSaved, FaceResult, LiveSettings, OtpChannel, OtpSent, OtpVerified };
export type { Paired, PreviewFrame, SettingsFile, SyncStatus, UiConfig, UiError, UserRow };
export type { Decision } from './bindings/Decision';
export type { EnrolmentState } from './bindings/EnrolmentState';
export type { FaceBox } from './bindings/FaceBox';
export type { Mode } from './bindings/Mode';

/** The languages the UI has strings for (the shell's `locale` is any string). */
export type Locale = 'en' | 'es';

/** A command error with a stable code. `details` is the API's details object when there is one. */
export class ApiError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Normalise whatever a rejected invoke produced into an ApiError. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isRecord(e) && typeof e.code === 'string') {
    // The shell's UiError; anything else with a code is read as far as it goes.
    const u = e as Partial<UiError> & { code: string };
    const message = typeof u.message === 'string' ? u.message : u.code;
    return new ApiError(u.code, message, isRecord(u.details) ? u.details : undefined);
  }
  if (typeof e === 'string') {
    // A shell that serialises its error to a JSON string.
    try {
      const parsed: unknown = JSON.parse(e);
      if (isRecord(parsed) && typeof parsed.code === 'string') return toApiError(parsed);
    } catch {
      /* plain text */
    }
    return new ApiError('UNKNOWN', e);
  }
  if (e instanceof Error) {
    if (typeof window !== 'undefined' && !('__TAURI_INTERNALS__' in window)) {
      return new ApiError('NO_BACKEND', e.message);
    }
    return new ApiError('UNKNOWN', e.message);
  }
  return new ApiError('UNKNOWN', String(e));
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toApiError(e);
  }
}

export const api = {
  getConfig: () => call<UiConfig>('get_config'),

  /** Starts the camera preview; `onFrame` gets every frame. */
  startPreview: async (onFrame: (f: PreviewFrame) => void): Promise<void> => {
    const ch = new Channel<PreviewFrame>();
    ch.onmessage = onFrame;
    await call<null>('start_preview', { on_frame: ch });
  },
  stopPreview: () => call<null>('stop_preview'),

  signInFace: (userId?: string) =>
    call<FaceResult>('sign_in_face', userId ? { user_id: userId } : {}),

  otpSend: (channel: OtpChannel, to: string) => call<OtpSent>('otp_send', { channel, to }),
  otpVerify: (channel: OtpChannel, to: string, code: string, validationId: string) =>
    call<OtpVerified>('otp_verify', { channel, to, code, validation_id: validationId }),

  adminLogin: (pin: string) => call<null>('admin_login', { pin }),
  /** Ends the administrator's session and its enrolment draft. */
  adminLogout: () => call<null>('admin_logout'),
  enrollCapture: () => call<CapturedSample>('enroll_capture'),
  enrollReset: () => call<null>('enroll_reset'),
  enrollSave: (userId: string, name: string) =>
    call<EnrolSaved>('enroll_save', { user_id: userId, name }),
  usersList: () => call<UserRow[]>('users_list'),
  usersDelete: (userId: string) => call<Deleted>('users_delete', { user_id: userId }),

  watchStatus: async (onStatus: (s: SyncStatus) => void): Promise<void> => {
    const ch = new Channel<SyncStatus>();
    ch.onmessage = onStatus;
    await call<null>('watch_status', { on_status: ch });
  },

  /** A visitor did something: the shell probes the API now, so the screen is up to date. */
  visitorActive: () => call<null>('visitor_active'),
  /** The webview's errors into the kiosk's log (see lib/uilog.ts). */
  uiLog: (level: 'warn' | 'error', message: string) => call<null>('ui_log', { level, message }),

  settingsGet: () => call<LiveSettings>('settings_get'),
  /** Fields left out (or null) keep their value; an empty text clears one. */
  settingsSet: (change: SettingsFile) => call<LiveSettings>('settings_set', { change }),
  /** Pairs the kiosk with the API at `apiUrl` using an administrator's one-time code. */
  kioskPair: (apiUrl: string, code: string) => call<Paired>('kiosk_pair', { api_url: apiUrl, code }),
  /** A kiosk without a staff PIN: pair with a one-time code, then set the first PIN. */
  adminFirstSetup: (apiUrl: string, code: string, newPin: string) =>
    call<Paired>('admin_first_setup', { api_url: apiUrl, code, new_pin: newPin }),
};

export type Api = typeof api;
