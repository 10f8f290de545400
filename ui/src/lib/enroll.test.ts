import { describe, expect, it } from 'vitest';
import type { EnrolmentState } from './api';
import { addSample, canCapture, canSave, enrolmentStateKey, isValidUserId, MAX_SAMPLES, MIN_SAMPLES, qualityBand, saveBlocker, samplesNeeded } from './enroll';
import { t } from './i18n';

describe('enrolment rules', () => {
  it('needs 3 to 5 samples', () => {
    expect(MIN_SAMPLES).toBe(3);
    expect(MAX_SAMPLES).toBe(5);
    expect(canSave(2, 'ana', 'Ana')).toBe(false);
    expect(canSave(3, 'ana', 'Ana')).toBe(true);
    expect(canSave(5, 'ana', 'Ana')).toBe(true);
    expect(canSave(6, 'ana', 'Ana')).toBe(false);
  });

  it('stops capturing at 5', () => {
    expect(canCapture(0)).toBe(true);
    expect(canCapture(4)).toBe(true);
    expect(canCapture(5)).toBe(false);
  });

  it('counts the samples still needed', () => {
    expect(samplesNeeded(0)).toBe(3);
    expect(samplesNeeded(2)).toBe(1);
    expect(samplesNeeded(4)).toBe(0);
  });

  it('needs a valid id and a name', () => {
    expect(canSave(3, '', 'Ana')).toBe(false);
    expect(canSave(3, 'ana', '  ')).toBe(false);
    expect(canSave(3, 'ana garcia', 'Ana')).toBe(false);
    expect(isValidUserId('ana.garcia-01@corp')).toBe(true);
    expect(isValidUserId('ana/garcia')).toBe(false);
    expect(isValidUserId('x'.repeat(129))).toBe(false);
  });

  it('explains what blocks Save', () => {
    expect(saveBlocker(3, '', '')).toEqual({ key: 'enroll.needId' });
    expect(saveBlocker(1, 'ana', 'Ana')).toEqual({ key: 'enroll.needMore', n: 2 });
    expect(saveBlocker(4, 'ana', 'Ana')).toBeNull();
  });

  it('adds samples in index order, at most 5', () => {
    let s = addSample([], { index: 1, thumbnail: 'b', quality: 0.8 });
    s = addSample(s, { index: 0, thumbnail: 'a', quality: 0.7 });
    expect(s.map((x) => x.thumbnail)).toEqual(['a', 'b']);
    for (let i = 2; i < 8; i++) s = addSample(s, { index: i, thumbnail: String(i), quality: 0.9 });
    expect(s).toHaveLength(5);
  });

  it('bands quality', () => {
    expect(qualityBand(0.2)).toBe('poor');
    expect(qualityBand(0.5)).toBe('fair');
    expect(qualityBand(0.9)).toBe('good');
  });
});

describe('enrolment state', () => {
  it('says what happens next for every state the shell answers, local included', () => {
    // A state added in Rust (and so in the generated type) fails the type check here.
    const every: Record<EnrolmentState, true> = { registered: true, queued: true, local: true };
    const keys = (Object.keys(every) as EnrolmentState[]).map(enrolmentStateKey);
    expect(new Set(keys).size).toBe(3);
    expect(t('en', enrolmentStateKey('local'))).toMatch(/this kiosk only/);
    expect(t('es', enrolmentStateKey('local'))).toMatch(/Solo puede entrar con su cara en este quiosco/);
    expect(t('en', enrolmentStateKey('registered'))).toMatch(/every kiosk of the project/);
    expect(t('en', enrolmentStateKey('queued'))).toMatch(/back online/);
    expect(t('es', enrolmentStateKey('queued'))).toMatch(/vuelva la conexión/);
  });
});
