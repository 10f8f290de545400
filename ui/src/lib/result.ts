// The result screens' choices: what a person refused by the face check is offered, in order.

/**
 * Refusals another try will not change: the kiosk does not know this face, the flow or its
 * lists refuse it, or the kiosk has been offline too long to check faces at all.
 */
const NOT_KNOWN = [
  'NO_MATCH',
  'NOT_ENROLLED',
  'IDENTIFICATION_UNAVAILABLE',
  'AMBIGUOUS_MATCH',
  'FACE_ATTEMPTS_LOCKED',
  'OFFLINE_TOO_LONG',
  'FLOW_PAUSED',
  'FLOW_NOT_ACTIVE',
  'METHOD_DISABLED',
  'IDENTIFIER_NOT_ALLOWED',
  'SECURITY_CHECK_UNAVAILABLE',
];

export type FailureAction = 'claim' | 'code' | 'staff' | 'retry';

/** Refusals that only mean "the face alone cannot tell who you are": say who, then the face. */
const ASK_WHO = ['IDENTIFICATION_UNAVAILABLE', 'AMBIGUOUS_MATCH'];

/**
 * The actions for a face refusal, most useful first (the first is the primary button).
 * Someone the kiosk does not know is offered a code and a member of staff before another try;
 * `codes` is whether a code can be used now (offered and online), `codesOffered` whether the
 * kiosk offers codes at all (a code offered but offline is listed last, disabled); a locked-out
 * try (`canRetryNow` false) goes after the ways that work now.
 */
export function failureActions(
  reason: string,
  codes: boolean,
  codesOffered: boolean,
  canRetryNow = true,
): FailureAction[] {
  const later: FailureAction[] = codesOffered && !codes ? ['code'] : [];
  if (ASK_WHO.includes(reason)) {
    return ['claim', ...(codes ? (['code'] as const) : []), 'staff', ...later];
  }
  if (NOT_KNOWN.includes(reason) || !canRetryNow) {
    return [...(codes ? (['code'] as const) : []), 'staff', 'retry', ...later];
  }
  return ['retry', ...(codes ? (['code'] as const) : []), 'staff', ...later];
}

/** Seconds left (rounded up) of `totalMs` started at `startedAt`, never negative. */
export function secondsLeft(totalMs: number, startedAt: number, now: number): number {
  return Math.max(0, Math.ceil((totalMs - (now - startedAt)) / 1000));
}
