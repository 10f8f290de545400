// The only module that talks to the Rust shell. Every command goes through `call`, which turns a
// rejected invoke into an `ApiError {code, message, details}`.
import { invoke, Channel } from '@tauri-apps/api/core';

export type Locale = 'en' | 'es';
export type OtpChannel = 'email' | 'sms' | 'whatsapp';

export interface KioskConfig {
  methods: { face: boolean; email: boolean; sms: boolean; whatsapp: boolean };
  online: boolean;
  kiosk_id: string;
  idle_reset_s: number;
  locale: Locale;
}

export interface FaceBox {
  x: number;
  y: number;
  w: number;
  h: number;
  score: number;
}

export interface PreviewFrame {
  seq: number;
  width: number;
  height: number;
  jpeg_b64: string;
  face: FaceBox | null;
  guidance: string[];
  quality: number;
  liveness: number | null;
  fps: number;
}

export interface FaceSignIn {
  decision: 'accepted' | 'rejected' | 'retry';
  user_id: string | null;
  name: string | null;
  score: number | null;
  liveness: number | null;
  mode: 'online' | 'offline';
  reason?: string;
  guidance: string[];
  frames: number;
  failures: number;
}

export interface OtpSendResult {
  validation_id: string;
  status: string;
  expires_at: string;
  channel: OtpChannel;
  attempts_remaining: number;
  resent: boolean;
}

export interface OtpVerifyResult {
  validation_id: string;
  status: 'validated';
}

export interface EnrollSample {
  index: number;
  thumbnail_jpeg_b64: string;
  quality: number;
  guidance: string[];
}

export interface EnrollSaved {
  user_id: string;
  samples: number;
  state: 'registered' | 'queued';
}

export interface UserRow {
  user_id: string;
  name: string;
  templates: number;
  created_at: string;
}

export interface SyncStatus {
  online: boolean;
  pending_events: number;
  templates: number;
  last_sync: string | null;
  last_error: string | null;
}

/** What the administrator may change; applied to the running kiosk at once. */
export interface Settings {
  api_url: string | null;
  project_id: string | null;
  match_threshold: number;
  liveness_threshold: number;
}

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
    const message = typeof e.message === 'string' ? e.message : e.code;
    return new ApiError(e.code, message, isRecord(e.details) ? e.details : undefined);
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

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The contract names arguments in snake_case. Tauri v2 commands read camelCase argument keys
 * unless the command says `rename_all = "snake_case"`, so each snake_case key is sent under both
 * spellings: the shell may use either convention (unknown keys are ignored).
 */
export function withBothCases(args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    out[k] = v;
    const c = camel(k);
    if (c !== k && !(c in args)) out[c] = v;
  }
  return out;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args ? withBothCases(args) : undefined);
  } catch (e) {
    throw toApiError(e);
  }
}

export const api = {
  getConfig: () => call<KioskConfig>('get_config'),

  /** Starts the camera preview; `onFrame` gets every frame. */
  startPreview: async (onFrame: (f: PreviewFrame) => void): Promise<void> => {
    const ch = new Channel<PreviewFrame>();
    ch.onmessage = onFrame;
    await call<null>('start_preview', { on_frame: ch });
  },
  stopPreview: () => call<null>('stop_preview'),

  signInFace: (userId?: string) =>
    call<FaceSignIn>('sign_in_face', userId ? { user_id: userId } : {}),

  otpSend: (channel: OtpChannel, to: string) => call<OtpSendResult>('otp_send', { channel, to }),
  otpVerify: (channel: OtpChannel, to: string, code: string, validationId: string) =>
    call<OtpVerifyResult>('otp_verify', { channel, to, code, validation_id: validationId }),

  adminLogin: (pin: string) => call<{ ok: true }>('admin_login', { pin }),
  enrollCapture: () => call<EnrollSample>('enroll_capture'),
  enrollReset: () => call<null>('enroll_reset'),
  enrollSave: (userId: string, name: string) =>
    call<EnrollSaved>('enroll_save', { user_id: userId, name }),
  usersList: () => call<UserRow[]>('users_list'),
  usersDelete: (userId: string) => call<{ deleted: boolean }>('users_delete', { user_id: userId }),

  watchStatus: async (onStatus: (s: SyncStatus) => void): Promise<void> => {
    const ch = new Channel<SyncStatus>();
    ch.onmessage = onStatus;
    await call<null>('watch_status', { on_status: ch });
  },

  settingsGet: () => call<Settings>('settings_get'),
  settingsSet: (s: Settings) => call<Settings>('settings_set', { ...s }),
};

export type Api = typeof api;
