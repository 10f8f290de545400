// The console's one way to the server: same origin, the session cookie (HttpOnly: the page
// never sees it), and the session's CSRF token on every request that changes something.
// Answers use the API's envelope: `{success, data, message}` or `{success:false, error, code,
// details}`; errors become `ApiError` with the stable code, which `errorText` puts in words.

export const REST = '/v2/access';
export const CONSOLE = '/console/api';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: Record<string, unknown> = {},
    public retryAfter: number | null = null,
  ) {
    super(message);
  }
}

let csrf = '';

/** Set after sign-in and after `me` (a reload): the token unsafe requests must carry. */
export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when the server says the session ended (the app shows the sign-in page). */
let onSignedOut: () => void = () => {};
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached');
  }
  let v: any = null;
  try {
    v = await r.json();
  } catch {
    v = null;
  }
  if (!r.ok || !v || v.success === false) {
    const retry = Number(r.headers.get('Retry-After'));
    const err = new ApiError(
      r.status,
      v?.code ?? 'HTTP_' + r.status,
      v?.error ?? r.statusText,
      v?.details ?? {},
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
    if (r.status === 401 && err.details.reason === 'session') onSignedOut();
    throw err;
  }
  return v.data as T;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {});
export const patch = <T>(path: string, body: unknown) => call<T>('PATCH', path, body);
export const del = <T>(path: string) => call<T>('DELETE', path);

/** `?a=1&b=2` from the defined values only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// The shapes the screens read (the server's types, access-types).
export interface Operator {
  id: string;
  email: string;
  totp_enabled: boolean;
}
export interface SessionInfo {
  operator: Operator;
  csrf_token: string;
  idle_timeout_s: number;
  expires_at: string;
}
export interface Project {
  id: string;
  name: string;
  description: string;
  created_at: string;
}
export interface LoginSettings {
  email: boolean;
  sms: boolean;
  whatsapp: boolean;
  face: boolean;
  liveness_required: boolean;
  liveness_min_score: number;
  /** 1:1 false match rate (a fraction). */
  target_fmr: number;
  /** 1:N false positive identification rate (a fraction). */
  target_fpir: number;
  /** Above this expected FNIR, face-only sign-in (1:N) is off. */
  fnir_ceiling: number;
  /** An expert's raw threshold in place of the targets; null: the targets decide. */
  match_min_score: number | null;
}
/** `GET /project-flows/{id}/face-rates` (access_types::FaceRates). */
export interface FaceRates {
  flow_id: string;
  project_id: string;
  people: number;
  target_fmr: number;
  target_fpir: number;
  fnir_ceiling: number;
  match_min_score: number | null;
  verify_threshold: number;
  verify_fmr: number | null;
  verify_fnmr: number | null;
  identify_threshold: number;
  identify_fpir: number | null;
  identify_fnir: number | null;
  identify_on: boolean;
  identify_off_reason: string | null;
  identify_capacity: number | null;
  site_refined: boolean;
  calibration: string | null;
}
export type SecurityMode = 'none' | 'whitelist' | 'blacklist' | 'url';
export interface SecuritySettings {
  mode: SecurityMode;
  identifiers: string[];
  url?: string;
  timeout_ms: number;
}
export type FlowStatus = 'draft' | 'active' | 'paused';
export interface Flow {
  id: string;
  project_id: string;
  name: string;
  type: 'login';
  status: FlowStatus;
  login: LoginSettings;
  security: SecuritySettings;
  created_at: string;
}
export interface Webhook {
  id: string;
  project_id: string;
  project_flow_id?: string | null;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason?: string | null;
  created_at: string;
}
export interface Delivery {
  id: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at?: string | null;
  created_at: string;
  delivered_at?: string | null;
  log: { attempt: number; at: string; status_code?: number | null; error?: string | null }[];
}
export interface EnrolledUser {
  user_id: string;
  project_id: string;
  samples: number;
  first_enrolled_at: string;
  last_sign_in_at?: string;
}
export interface Kiosk {
  kiosk_id: string;
  project_id: string;
  name: string;
  created_at: string;
  last_seen_at?: string;
  version?: string;
  pending_events?: number;
  last_sync_at?: string;
  revoked_at?: string;
}
export interface Pairing {
  code: string;
  project_id: string;
  name?: string;
  expires_at: string;
}
export interface ApiToken {
  id: string;
  subject: string;
  scope: 'admin' | 'metrics' | 'kiosk';
  created_at: string;
  expires_at: string;
  revoked_at?: string | null;
}
export interface Validation {
  id: string;
  kind: string;
  channel?: string | null;
  identifier: string;
  project_id: string;
  project_flow_id: string;
  status: string;
  attempts: number;
  created_at: string;
  validated_at?: string | null;
  match_score?: number | null;
  matched_user?: string | null;
  liveness_score?: number | null;
}
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target?: string | null;
  status?: number | null;
  addr?: string | null;
}

export const WEBHOOK_EVENTS = [
  'email_validation.created',
  'email_validation.validated',
  'email_validation.failed',
  'email_validation.expired',
  'email_validation.locked',
  'phone_validation.created',
  'phone_validation.validated',
  'phone_validation.failed',
  'phone_validation.expired',
  'phone_validation.locked',
  'biometric_validation.created',
  'biometric_validation.validated',
  'biometric_validation.failed',
  'biometric_validation.expired',
  'biometric_validation.match_failed',
  'biometric_validation.liveness_passed',
  'biometric_validation.liveness_failed',
  'kiosk.offline_sign_in',
  'face.enrolled',
  'face.erased',
  'face.confirmed',
  'face.identification_off',
  'face.identification_on',
];
