/** Time is injected so that expiry, renewal and CRL timing are tested by moving the clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
