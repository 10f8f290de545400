import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
class FakeChannel<T> {
  onmessage: (m: T) => void = () => {};
  id = 7;
  toJSON() {
    return '__CHANNEL__:7';
  }
}
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...a: unknown[]) => invoke(...a), Channel: FakeChannel }));

const { api, ApiError, toApiError } = await import('./api');

beforeEach(() => {
  invoke.mockReset();
});

describe('api', () => {
  it('calls commands with the snake_case argument keys the shell reads', async () => {
    invoke.mockResolvedValue({ validation_id: 'v', status: 'validated' });
    await api.otpVerify('email', 'a@b.co', '123456', 'v1');
    expect(invoke).toHaveBeenCalledWith('otp_verify', {
      channel: 'email',
      to: 'a@b.co',
      code: '123456',
      validation_id: 'v1',
    });
  });

  it('sends a settings change as one argument, and logs out without any', async () => {
    invoke.mockResolvedValue(null);
    const change = { api_url: 'http://127.0.0.1:8787', project_id: '', match_threshold: 0.4, liveness_threshold: null };
    await api.settingsSet(change);
    expect(invoke).toHaveBeenLastCalledWith('settings_set', { change });
    await api.adminLogout();
    expect(invoke).toHaveBeenLastCalledWith('admin_logout', undefined);
  });

  it('sends no user_id when signing in without one', async () => {
    invoke.mockResolvedValue({ decision: 'retry' });
    await api.signInFace();
    expect(invoke).toHaveBeenCalledWith('sign_in_face', {});
    await api.signInFace('u1');
    expect(invoke).toHaveBeenLastCalledWith('sign_in_face', { user_id: 'u1' });
  });

  it('turns a rejected invoke into an ApiError with details', async () => {
    invoke.mockImplementation(async () => { throw { code: 'INVALID_OTP', message: 'wrong code', details: { attempts_remaining: 2 } }; });
    const err = await api.otpVerify('sms', '+34600000000', '000000', 'v').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as InstanceType<typeof ApiError>;
    expect([e.code, e.message, e.details]).toEqual(['INVALID_OTP', 'wrong code', { attempts_remaining: 2 }]);
  });

  it('normalises strings, JSON strings and Errors', () => {
    const j = toApiError('{"code":"LOCKED_OUT","message":"try again in 30 s"}');
    expect([j.code, j.message]).toEqual(['LOCKED_OUT', 'try again in 30 s']);
    const s = toApiError('boom');
    expect([s.code, s.message]).toEqual(['UNKNOWN', 'boom']);
    expect(toApiError(new Error('x')).code).toMatch(/UNKNOWN|NO_BACKEND/);
    const o = toApiError({ code: 'X' });
    expect([o.code, o.message, o.details]).toEqual(['X', 'X', undefined]);
  });

  it('passes a Channel to start_preview and forwards frames', async () => {
    invoke.mockResolvedValue(null);
    const frames: unknown[] = [];
    await api.startPreview((f) => frames.push(f));
    const [cmd, args] = invoke.mock.calls[0] as [string, Record<string, FakeChannel<unknown>>];
    expect(cmd).toBe('start_preview');
    expect(args.on_frame).toBeInstanceOf(FakeChannel);
    expect(Object.keys(args)).toEqual(['on_frame']);
    args.on_frame.onmessage({ seq: 1 });
    expect(frames).toEqual([{ seq: 1 }]);
  });

  it('passes a Channel to watch_status', async () => {
    invoke.mockResolvedValue(null);
    const seen: unknown[] = [];
    await api.watchStatus((s) => seen.push(s));
    const args = invoke.mock.calls[0][1] as Record<string, FakeChannel<unknown>>;
    args.on_status.onmessage({ online: false, pending_events: 3 });
    expect(seen).toEqual([{ online: false, pending_events: 3 }]);
  });
});
