import { describe, expect, it } from 'vitest';
import { failureActions, secondsLeft } from './result';

describe('face refusal', () => {
  it('offers someone not enrolled a code and staff before another try', () => {
    expect(failureActions('NO_MATCH', true, true)).toEqual(['code', 'staff', 'retry']);
    expect(failureActions('NOT_ENROLLED', true, true)).toEqual(['code', 'staff', 'retry']);
  });

  it('offers what still works when the kiosk was offline too long, or the flow refuses', () => {
    expect(failureActions('OFFLINE_TOO_LONG', false, true)).toEqual(['staff', 'retry', 'code']);
    expect(failureActions('OFFLINE_TOO_LONG', true, true)).toEqual(['code', 'staff', 'retry']);
    expect(failureActions('FLOW_PAUSED', true, true)).toEqual(['code', 'staff', 'retry']);
  });

  it('puts staff first when a code cannot be used now, the code last', () => {
    expect(failureActions('NO_MATCH', false, true)).toEqual(['staff', 'retry', 'code']);
    expect(failureActions('NO_MATCH', false, false)).toEqual(['staff', 'retry']);
  });

  it('offers another try first when the picture was the problem', () => {
    expect(failureActions('LIVENESS_FAILED', true, true)).toEqual(['retry', 'code', 'staff']);
    expect(failureActions('LIVENESS_FAILED', false, true)).toEqual(['retry', 'staff', 'code']);
  });

  it('puts a try that has to wait after the ways that work now', () => {
    expect(failureActions('LOCKED_OUT', true, true, false)).toEqual(['code', 'staff', 'retry']);
    expect(failureActions('LOCKED_OUT', false, true, false)).toEqual(['staff', 'retry', 'code']);
  });
});

describe('success countdown', () => {
  it('counts whole seconds down to zero', () => {
    expect(secondsLeft(8000, 0, 0)).toBe(8);
    expect(secondsLeft(8000, 0, 7001)).toBe(1);
    expect(secondsLeft(8000, 0, 9000)).toBe(0);
  });
});

describe('failureActions when the face alone cannot tell', () => {
  it('asks who the person is first, then offers a code and staff', () => {
    expect(failureActions('IDENTIFICATION_UNAVAILABLE', true, true)).toEqual(['claim', 'code', 'staff']);
    expect(failureActions('AMBIGUOUS_MATCH', false, true)).toEqual(['claim', 'staff', 'code']);
    expect(failureActions('NO_MATCH', true, true)[0]).not.toBe('claim');
  });
});
