// A fake Tauri shell for screenshots and manual checks in a plain browser: `?mock`.
// Options: offline=1, noproject=1 (enrolments stay local), lang=es, guide=CODE (force a guidance code), screen=NAME (start screen),
// fail=CODE (make sign_in_face / otp_verify fail with that code), methods=face,email,sms.
// Never loaded inside the real app (main.ts loads it only when there is no Tauri).
import type { PreviewFrame, SyncStatus, UserRow } from '../lib/api';

type Args = Record<string, unknown>;
interface ChannelLike {
  onmessage: (m: unknown) => void;
}

export function installMock(params: URLSearchParams): void {
  const offline = params.get('offline') === '1';
  const noProject = params.get('noproject') === '1';
  const guide = params.get('guide');
  const fail = params.get('fail');
  const methods = (params.get('methods') ?? 'face,email,sms,whatsapp').split(',');
  const callbacks = new Map<number, (m: unknown) => void>();
  let nextId = 1;
  let previewTimer: number | undefined;
  let samples = 0;
  const users: UserRow[] = [
    { user_id: 'ana.garcia', name: 'Ana García', templates: 4, created_at: '2025-11-20T09:12:00Z' },
    { user_id: 'b.okafor', name: 'Bola Okafor', templates: 3, created_at: '2025-11-21T15:40:00Z' },
    { user_id: 'li.wei', name: 'Li Wei', templates: 5, created_at: '2025-11-22T08:05:00Z' },
  ];
  let settings = { api_url: 'http://127.0.0.1:8080', project_id: 'demo', match_threshold: 0.36, liveness_threshold: 0.6 };

  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 480;
  let seq = 0;

  function frame(): PreviewFrame {
    const ctx = canvas.getContext('2d')!;
    const g = ctx.createLinearGradient(0, 0, 0, 480);
    g.addColorStop(0, '#5d6d7e');
    g.addColorStop(1, '#2c3e50');
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, 640, 480);
    const cx = 320 + Math.sin(seq / 10) * 8;
    ctx.fillStyle = '#34495e';
    ctx.beginPath();
    ctx.ellipse(cx, 470, 170, 120, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#e0b49a';
    ctx.beginPath();
    ctx.ellipse(cx, 230, 95, 125, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#3b2a20';
    ctx.beginPath();
    ctx.arc(cx - 35, 205, 9, 0, Math.PI * 2);
    ctx.arc(cx + 35, 205, 9, 0, Math.PI * 2);
    ctx.fill();
    const b64 = canvas.toDataURL('image/jpeg', 0.7).split(',')[1];
    seq++;
    const guidance = guide ? [guide] : seq < 8 ? ['FACE_TOO_SMALL'] : [];
    return {
      seq,
      width: 640,
      height: 480,
      jpeg_b64: b64,
      face: { x: cx - 95, y: 105, w: 190, h: 250, score: 0.93 },
      guidance,
      quality: guidance.length ? 0.45 : 0.86,
      liveness: Math.min(0.97, seq / 20),
      fps: 10,
    };
  }

  const reject = (code: string, message: string, details?: Args) => Promise.reject({ code, message, details });

  async function invoke(cmd: string, args: Args = {}): Promise<unknown> {
    await new Promise((r) => setTimeout(r, 60));
    switch (cmd) {
      case 'get_config':
        return {
          methods: { face: methods.includes('face'), email: methods.includes('email'), sms: methods.includes('sms'), whatsapp: methods.includes('whatsapp') },
          online: !offline,
          kiosk_id: 'kiosk-mock',
          idle_reset_s: Number(params.get('idle') ?? 60),
          locale: params.get('lang') === 'es' ? 'es' : 'en',
        };
      case 'watch_status': {
        const ch = args.on_status as ChannelLike;
        const s: SyncStatus = { online: !offline, pending_events: offline ? 7 : 0, templates: 12, last_sync: '2025-11-26T10:58:00Z', last_error: offline ? 'connection refused' : null, revoked_at: null };
        setTimeout(() => ch.onmessage(s), 50);
        return null;
      }
      case 'start_preview': {
        const ch = args.on_frame as ChannelLike;
        window.clearInterval(previewTimer);
        previewTimer = window.setInterval(() => ch.onmessage(frame()), 100);
        ch.onmessage(frame());
        return null;
      }
      case 'stop_preview':
        window.clearInterval(previewTimer);
        return null;
      case 'sign_in_face':
        await new Promise((r) => setTimeout(r, 800));
        if (fail === 'LOCKED_OUT') return reject('LOCKED_OUT', 'too many failed attempts: try again in 30 s, or use a code instead');
        if (fail) return { decision: 'rejected', user_id: null, name: null, score: 0.2, liveness: 0.9, mode: 'online', reason: fail, guidance: [], frames: 5, failures: 1 };
        return { decision: 'accepted', user_id: 'ana.garcia', name: 'Ana García', score: 0.71, liveness: 0.95, mode: offline ? 'offline' : 'online', guidance: [], frames: 5, failures: 0 };
      case 'otp_send':
        if (offline) return reject('UNAVAILABLE_OFFLINE', 'unavailable offline');
        return { validation_id: 'val_123', status: 'pending', expires_at: new Date(Date.now() + 300_000).toISOString(), channel: args.channel, attempts_remaining: 5, resent: false };
      case 'otp_verify':
        if (args.code !== '123456') return reject('INVALID_OTP', 'invalid code', { attempts_remaining: 4 });
        return { validation_id: args.validation_id, status: 'validated' };
      case 'admin_login':
        if (args.pin === '246810') return null;
        // `?pin=locked`: the sixth wrong PIN, with its delay.
        return params.get('pin') === 'locked'
          ? reject('ADMIN_PIN_LOCKED', 'too many wrong PINs: try again in 30 s', { retry_after_s: 30 })
          : reject('ADMIN_REFUSED', 'wrong PIN');
      case 'admin_logout':
        samples = 0;
        return null;
      case 'enroll_reset':
        samples = 0;
        return null;
      case 'enroll_capture': {
        if (samples >= 5) return reject('ENROL_SAMPLE_COUNT', 'at most 5 samples');
        const f = frame();
        return { index: samples++, thumbnail_jpeg_b64: f.jpeg_b64, quality: 0.8, guidance: [] };
      }
      case 'enroll_save':
        users.push({ user_id: String(args.user_id), name: String(args.name), templates: samples, created_at: new Date().toISOString() });
        return { user_id: args.user_id, samples, state: noProject ? 'local' : offline ? 'queued' : 'registered' };
      case 'users_list':
        return users.slice();
      case 'users_delete': {
        const i = users.findIndex((u) => u.user_id === args.user_id);
        if (i >= 0) users.splice(i, 1);
        return { deleted: i >= 0 };
      }
      case 'visitor_active':
        return null;
      case 'settings_get':
        return settings;
      case 'settings_set': {
        const c = args.change as Partial<typeof settings>;
        settings = { ...settings, ...Object.fromEntries(Object.entries(c).filter(([, v]) => v !== null && v !== undefined)) };
        return settings;
      }
      case 'admin_first_setup':
      case 'kiosk_pair':
        if (String(args.code).replace(/[-\s]/g, '').length !== 12) return reject('PAIRING_CODE_INVALID', 'unknown pairing code');
        settings = { ...settings, api_url: String(args.api_url), project_id: 'prj_mock' };
        return { kiosk_id: 'ksk_mock', project_id: 'prj_mock', name: 'Mock kiosk' };
      default:
        return reject('UNKNOWN_COMMAND', `mock has no ${cmd}`);
    }
  }

  (window as unknown as { __TAURI_INTERNALS__: unknown }).__TAURI_INTERNALS__ = {
    invoke,
    transformCallback(cb: (m: unknown) => void) {
      const id = nextId++;
      callbacks.set(id, cb);
      return id;
    },
    unregisterCallback(id: number) {
      callbacks.delete(id);
    },
    convertFileSrc: (p: string) => p,
  };
}
