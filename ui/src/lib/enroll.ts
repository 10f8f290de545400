// Admin enrolment rules: 3 to 5 samples, a valid user id and a name.
import type { EnrolmentState } from './api';
import type { MessageKey } from './i18n';

export const MIN_SAMPLES = 3;
export const MAX_SAMPLES = 5;

/** Same rule as kiosk-core: 1..128 of ASCII letters, digits and . _ - @ */
export function isValidUserId(id: string): boolean {
  return id.length > 0 && id.length <= 128 && /^[A-Za-z0-9._@-]+$/.test(id);
}

export function canCapture(samples: number): boolean {
  return samples < MAX_SAMPLES;
}

export function samplesNeeded(samples: number): number {
  return Math.max(0, MIN_SAMPLES - samples);
}

export function canSave(samples: number, userId: string, name: string): boolean {
  return samples >= MIN_SAMPLES && samples <= MAX_SAMPLES && isValidUserId(userId.trim()) && name.trim().length > 0;
}

/** Why Save is not available yet, or null when it is. */
export function saveBlocker(samples: number, userId: string, name: string): { key: MessageKey; n?: number } | null {
  if (!isValidUserId(userId.trim()) || name.trim().length === 0) return { key: 'enroll.needId' };
  if (samples < MIN_SAMPLES) return { key: 'enroll.needMore', n: samplesNeeded(samples) };
  if (samples > MAX_SAMPLES) return { key: 'err.ENROL_SAMPLE_COUNT' };
  return null;
}

export interface Sample {
  index: number;
  thumbnail: string;
  quality: number;
}

/** Add a captured sample, keeping at most MAX_SAMPLES; the shell's index decides the order. */
export function addSample(samples: Sample[], s: Sample): Sample[] {
  if (samples.length >= MAX_SAMPLES) return samples;
  return [...samples.filter((x) => x.index !== s.index), s].sort((a, b) => a.index - b.index);
}

/** What happens next for a saved enrolment, in words matching where it stands. */
export function enrolmentStateKey(state: EnrolmentState): MessageKey {
  switch (state) {
    case 'registered':
      return 'enroll.next.registered';
    case 'queued':
      return 'enroll.next.queued';
    case 'local':
      return 'enroll.next.local';
  }
}

/** Quality 0..1 -> "poor" | "fair" | "good" for the meter's colour. */
export function qualityBand(q: number): 'poor' | 'fair' | 'good' {
  if (q >= 0.7) return 'good';
  if (q >= 0.4) return 'fair';
  return 'poor';
}
