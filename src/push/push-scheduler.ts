import type { CertificateGroupName } from "../ca/certificate-types.js";
import type { Clock } from "../clock.js";
import { GdsError } from "../errors.js";
import type { Logger } from "../log.js";
import type { PushCycleRequest, PushCycleResult, PushCycleRunner } from "./push-cycle.types.js";
import { PUSH_SCHEDULER_ACTOR, type PushTargetService } from "./push-target-service.js";
import type { PushStatusRecord, PushStatusView, StoredPushTarget } from "./push-target.types.js";

export interface PushSchedulerOptions {
  targets: PushTargetService;
  /** The trust lists' LastUpdateTime and their change events (CertificateManagerService). */
  certificates: {
    trustList(group: CertificateGroupName): { lastUpdateTime: Date };
    onTrustListChanged(listener: (group: CertificateGroupName) => void): () => void;
    /**
     * A signing request's state (CertificateManagerService.getRequest; throws when unknown): lets
     * the scheduler see locally whether a request waiting for approval was decided, without
     * contacting the device. Without it, a waiting device gets a cycle every approval poll.
     */
    getRequest?(requestId: string): { state: string };
    /**
     * Approvals and rejections as they happen (CertificateManagerService.onRequestDecided): a
     * device waiting for that request gets its cycle at once instead of at the next approval poll.
     */
    onRequestDecided?(listener: (request: { requestId: string; applicationId: string }) => void): () => void;
  };
  runner: PushCycleRunner;
  clock: Clock;
  log: Logger;
  /** GDS_PUSH_INTERVAL: how often it looks for work without being told. */
  intervalMs: number;
  /** GDS_PUSH_CONCURRENCY: cycles at once. */
  concurrency: number;
  /** GDS_PUSH_TIMEOUT: per device call. */
  callTimeoutMs: number;
  /** GDS_RENEW_BEFORE: renew when less than this is left of the device's certificate. */
  renewBeforeMs: number;
  /** First retry delay (default 30 s, never more than the cap). */
  backoffBaseMs?: number;
  /** Longest retry delay (default: GDS_PUSH_INTERVAL, at most 1 h). */
  backoffCapMs?: number;
  /** [0, 1); jitter. Default Math.random. */
  random?: () => number;
  /** How often a device waiting for approval is looked at (default min(GDS_PUSH_INTERVAL, 1 min)). */
  approvalPollMs?: number;
  /** How long stop() waits for running cycles (default 10 s). */
  stopTimeoutMs?: number;
}

/** What is due for one device, derived from the store and the trust lists at `now`. */
export interface DueWork {
  target: StoredPushTarget;
  reason: PushCycleRequest["reason"];
  pushTrustList: boolean;
  renewCertificate: boolean;
  /** Who the outcome is audited as: the admin who asked, or push-scheduler. */
  actor: string;
  /** The admin request (its pushRequestedAt) this cycle serves. */
  servesRequest?: string;
  trustListLastUpdateTime: Date;
  /** The signing request (waiting for approval before) the cycle finishes instead of a new CSR. */
  pendingRequestId?: string;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
const MIN_TIMER_MS = 200;
const MAX_TIMER_MS = 2_147_000_000;

/**
 * Decides what a device needs at `now`, from its stored status alone (pure; exported for tests).
 * - an admin's "push now" not yet attempted: everything, at once, regardless of backoff; one that
 *   was attempted and failed (the device was down): everything again, after the backoff;
 * - the group's trust list changed after the device's last attempt (a revocation, a new CRL): the
 *   trust list, at once, regardless of backoff (a revocation must not wait for a retry timer);
 * - within a backoff after a failure: nothing;
 * - no confirmed certificate yet, or less than renewBefore left: certificate (and trust list);
 * - the group's trust list differs from what the device last confirmed holding: trust list.
 * A signing request of the device waiting for approval (`status.pendingRequestId`, and
 * `approvalPending` true while it is still pending) holds the certificate part back (no new CSR,
 * no backoff: the trust list is still kept current, and an admin's new "push now" still runs once);
 * once it is decided the certificate is due at once, finishing that request.
 */
export function dueWork(
  target: StoredPushTarget,
  status: PushStatusRecord | undefined,
  now: Date,
  trustListLastUpdateTime: Date,
  renewBeforeMs: number,
  approvalPending = false,
): DueWork | undefined {
  const t = now.getTime();
  const pendingRequestId = status?.pendingRequestId;
  const waiting = pendingRequestId !== undefined && approvalPending;
  const base = { target, trustListLastUpdateTime, ...(pendingRequestId ? { pendingRequestId } : {}) };
  const inBackoff = status?.nextAttemptAt !== undefined && t < Date.parse(status.nextAttemptAt);
  if (status?.pushRequestedAt) {
    const attempted = status.pushRequestTriedAt === status.pushRequestedAt;
    if (!attempted || (!inBackoff && !waiting)) {
      return { ...base, reason: attempted ? "retry" : "admin", pushTrustList: true, renewCertificate: true, actor: status.pushRequestedBy ?? PUSH_SCHEDULER_ACTOR, servesRequest: status.pushRequestedAt };
    }
  }
  const noCertificate = !status?.certificate;
  const renew = pendingRequestId !== undefined ? !waiting : noCertificate || Date.parse(status.certificate!.notAfter) - t < renewBeforeMs;
  const pushed = status?.trustList ? Date.parse(status.trustList.lastUpdateTime) : NaN;
  const trustListStale = !(pushed === trustListLastUpdateTime.getTime());
  const changedSinceAttempt = trustListStale && status?.lastAttempt !== undefined && trustListLastUpdateTime.getTime() > Date.parse(status.lastAttempt);
  if (!changedSinceAttempt && inBackoff) return undefined;
  if (!renew && !trustListStale) return undefined;
  const failing = (status?.consecutiveFailures ?? 0) > 0;
  const reason: PushCycleRequest["reason"] = changedSinceAttempt ? "trustListChanged" : failing ? "retry" : !renew ? "trustListChanged" : noCertificate ? "firstPush" : "renewal";
  const { pendingRequestId: _pending, ...trustListOnly } = base;
  return { ...(renew ? base : trustListOnly), reason, pushTrustList: true, renewCertificate: renew, actor: PUSH_SCHEDULER_ACTOR };
}

/** Exponential backoff with jitter: the n-th consecutive failure waits base·2^(n-1), capped, times 0.5–1.0. */
export function backoffDelay(failures: number, baseMs: number, capMs: number, random: () => number): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(exp * (0.5 + 0.5 * random()));
}

/**
 * Runs push cycles when they are due. The source of truth is the store (targets, statuses with
 * nextAttemptAt and pending admin requests) and the trust lists' LastUpdateTime: the timer only
 * decides when to look again, so a restart or a missed event loses nothing. Never two cycles for
 * one device at once; at most `concurrency` in all.
 */
export class PushScheduler {
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly random: () => number;
  private readonly backoffCapMs: number;
  private readonly backoffBaseMs: number;
  private readonly approvalPollMs: number;

  constructor(private readonly opts: PushSchedulerOptions) {
    this.random = opts.random ?? Math.random;
    this.approvalPollMs = opts.approvalPollMs ?? Math.min(opts.intervalMs, MINUTE);
    this.backoffCapMs = opts.backoffCapMs ?? Math.min(opts.intervalMs, HOUR);
    this.backoffBaseMs = Math.min(opts.backoffBaseMs ?? 30_000, this.backoffCapMs);
  }

  /** Subscribes to trust-list and target changes and looks for work at once (then on its timer). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.unsubscribe.push(this.opts.certificates.onTrustListChanged(() => this.wake()));
    this.unsubscribe.push(this.opts.targets.onChanged(() => this.wake()));
    if (this.opts.certificates.onRequestDecided) {
      this.unsubscribe.push(this.opts.certificates.onRequestDecided((r) => this.requestDecided(r.requestId, r.applicationId)));
    }
    this.wake();
  }

  /** A signing request was approved or rejected: look at once if a device waits for it. */
  private requestDecided(requestId: string, applicationId: string): void {
    if (this.stopped) return;
    const id = requestId.toLowerCase();
    this.opts.targets
      .statusRecord(applicationId)
      .then((status) => {
        if (status?.pendingRequestId?.toLowerCase() !== id) return;
        this.opts.log.info({ applicationId, requestId }, "push scheduler: the signing request a device waits for was decided; looking at once");
        this.wake();
      })
      .catch((err) => this.opts.log.error({ err, applicationId, requestId }, "push scheduler: reading the push status after a request decision failed"));
  }

  /** Looks for work soon (coalesced). */
  wake(): void {
    if (this.stopped) return;
    void this.tick().catch((err) => this.opts.log.error({ err }, "push scheduler: looking for due pushes failed"));
  }

  /**
   * One look at the store: starts every due cycle the concurrency limit allows and re-arms the
   * timer. Resolves once the cycles are started (not finished: see whenIdle()).
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.ticking) {
      this.tickAgain = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      try {
        do {
          this.tickAgain = false;
          try {
            await this.evaluate();
          } catch (err) {
            // e.g. the store refused a read: look again at the next interval, do not stop looking.
            this.opts.log.error({ err }, "push scheduler: looking for due pushes failed");
            this.arm(this.opts.intervalMs);
          }
        } while (this.tickAgain && !this.stopped);
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /** The ApplicationIds with a cycle running now. */
  runningIds(): string[] {
    return [...this.running.keys()];
  }

  isRunning(applicationId: string): boolean {
    return this.running.has(applicationId);
  }

  /** Resolves when no cycle is running (tests, stop). */
  async whenIdle(): Promise<void> {
    while (this.running.size > 0 || this.ticking) {
      await Promise.allSettled([...this.running.values(), this.ticking]);
    }
  }

  /** Status views with `running` filled in. */
  status(applicationId?: string): Promise<PushStatusView[]> {
    return this.opts.targets.status(applicationId, (id) => this.running.has(id));
  }

  /**
   * PushNow: records the request (durable) and starts the cycle if the limit allows. With
   * `waitMs`, waits up to that long for the first cycle started after the request to end; returns
   * the device's status either way. The request stays pending (retried with backoff) until a cycle
   * succeeds or at least confirms the new certificate.
   */
  async pushNow(applicationId: string, actor: string, waitMs = 0): Promise<PushStatusView> {
    if (this.stopped) throw new GdsError("BadInvalidState", "the push scheduler is stopping");
    const { applicationId: id, requestedAt } = await this.opts.targets.requestPush(applicationId, actor);
    let finished: (() => void) | undefined;
    const done = new Promise<void>((resolve) => (finished = resolve));
    // Answered by the first cycle that serves the request: fulfilled (cleared) or tried and failed.
    const off = this.opts.targets.onPushFinished(async (e) => {
      if (e.applicationId !== id) return;
      const s = await this.opts.targets.statusRecord(id);
      if (!s || s.pushRequestedAt !== requestedAt || s.pushRequestTriedAt === requestedAt) finished?.();
    });
    try {
      await this.tick();
      if (waitMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
        clearTimeout(timer);
      }
    } finally {
      off();
    }
    return (await this.status(id))[0];
  }

  /** Stops looking for work and waits (bounded) for running cycles to end. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.running.size === 0) return;
    const bound = this.opts.stopTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.allSettled([...this.running.values()]).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), bound))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.opts.log.warn({ running: this.runningIds() }, `push scheduler stopped with cycles still running after ${bound} ms; they are recorded as attempts and re-run after the next start`);
  }

  // --- internals ------------------------------------------------------------------------------

  private async evaluate(): Promise<void> {
    const now = this.opts.clock.now();
    const targets = await this.opts.targets.targets();
    const statuses = await this.opts.targets.statusRecords();
    const due: DueWork[] = [];
    let nextWake = now.getTime() + this.opts.intervalMs;
    // One trust-list snapshot per group and look, not one per device.
    const trustListTimes = new Map<CertificateGroupName, Date>();
    for (const target of targets) {
      const status = statuses.get(target.applicationId);
      if (this.running.has(target.applicationId)) continue;
      let trustListTime: Date;
      try {
        trustListTime = trustListTimes.get(target.group) ?? this.opts.certificates.trustList(target.group).lastUpdateTime;
        trustListTimes.set(target.group, trustListTime);
      } catch (err) {
        this.opts.log.error({ err, group: target.group }, "push scheduler: cannot read the trust list");
        continue;
      }
      const approvalPending = status?.pendingRequestId !== undefined && this.approvalPending(status, now);
      const work = dueWork(target, status, now, trustListTime, this.opts.renewBeforeMs, approvalPending);
      if (work) {
        due.push(work);
        continue;
      }
      // Waiting for approval: look again soon (the request's state is read locally).
      if (approvalPending) nextWake = Math.min(nextWake, now.getTime() + this.approvalPollMs);
      // Not due now: wake up when it will be, if that is before the next regular look.
      if (status?.nextAttemptAt) nextWake = Math.min(nextWake, Date.parse(status.nextAttemptAt));
      if (status?.certificate) nextWake = Math.min(nextWake, Date.parse(status.certificate.notAfter) - this.opts.renewBeforeMs + 1);
    }
    // Admin requests first, then whoever waited longest.
    due.sort((a, b) => Number(b.reason === "admin") - Number(a.reason === "admin") || (statuses.get(a.target.applicationId)?.lastAttempt ?? "").localeCompare(statuses.get(b.target.applicationId)?.lastAttempt ?? ""));
    for (const work of due) {
      if (this.stopped || this.running.size >= this.opts.concurrency) break;
      this.launch(work);
    }
    this.arm(Math.max(MIN_TIMER_MS, nextWake - now.getTime()));
  }

  /**
   * Whether the device's signing request still waits for approval: its state from the
   * CertificateManager (unknown → not pending: the cycle then reports what became of it); without
   * that lookup, until an approval poll has passed since the last attempt.
   */
  private approvalPending(status: PushStatusRecord, now: Date): boolean {
    const requestId = status.pendingRequestId!;
    if (this.opts.certificates.getRequest) {
      try {
        return this.opts.certificates.getRequest(requestId).state === "pending";
      } catch {
        return false;
      }
    }
    return status.lastAttempt !== undefined && now.getTime() - Date.parse(status.lastAttempt) < this.approvalPollMs;
  }

  private arm(delayMs: number): void {
    if (this.stopped || !this.started) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.min(delayMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private launch(work: DueWork): void {
    const id = work.target.applicationId;
    const cycle = this.runCycle(work)
      .catch((err) => this.opts.log.error({ err, applicationId: id }, "push scheduler: recording a push cycle failed"))
      .finally(() => {
        this.running.delete(id);
        // A slot is free (and this device's status changed): look again.
        this.wake();
      });
    this.running.set(id, cycle);
  }

  private async runCycle(work: DueWork): Promise<void> {
    const id = work.target.applicationId;
    const startedAt = this.opts.clock.now();
    await this.opts.targets.recordAttempt(id, startedAt, work.reason);
    let request: PushCycleRequest;
    let result: PushCycleResult;
    try {
      request = {
        target: this.opts.targets.pushTargetFor(work.target),
        pushTrustList: work.pushTrustList,
        renewCertificate: work.renewCertificate,
        reason: work.reason,
        callTimeoutMs: this.opts.callTimeoutMs,
        ...(work.renewCertificate && work.pendingRequestId ? { pendingRequestId: work.pendingRequestId } : {}),
      };
    } catch (err) {
      // No cycle possible (application gone, password unreadable): recorded like a failed connect.
      const statusCode = err instanceof GdsError ? err.statusName : "BadInternalError";
      request = {
        target: { applicationId: id, applicationUri: "", endpointUrl: work.target.endpointUrl, securityPolicy: work.target.securityPolicy, securityMode: work.target.securityMode, identity: { kind: "certificate" }, regeneratePrivateKey: work.target.regeneratePrivateKey, group: work.target.group },
        pushTrustList: work.pushTrustList,
        renewCertificate: work.renewCertificate,
        reason: work.reason,
        callTimeoutMs: this.opts.callTimeoutMs,
      };
      result = { ok: false, steps: [], error: { step: "connect", statusCode, message: (err as Error).message } };
      await this.record(work, request, result, startedAt);
      return;
    }
    this.opts.log.info({ applicationId: id, endpointUrl: request.target.endpointUrl, reason: work.reason, renewCertificate: work.renewCertificate, pendingRequestId: request.pendingRequestId }, "push cycle starting");
    try {
      result = await this.opts.runner.run(request);
    } catch (err) {
      // The runner should report failures in its result; a throw is still only this device's problem.
      result = { ok: false, steps: [], error: { step: "connect", statusCode: err instanceof GdsError ? err.statusName : "BadInternalError", message: `push cycle threw: ${(err as Error)?.message ?? String(err)}` } };
    }
    await this.record(work, request, result, startedAt);
  }

  private async record(work: DueWork, request: PushCycleRequest, result: PushCycleResult, startedAt: Date): Promise<void> {
    let nextAttemptAt: Date | undefined;
    // Waiting for approval is no failure of the device: no backoff (see dueWork).
    if (!result.ok && !result.pendingRequestId) {
      const before = await this.opts.targets.statusRecord(work.target.applicationId);
      const failures = (before?.consecutiveFailures ?? 0) + 1;
      nextAttemptAt = new Date(this.opts.clock.now().getTime() + backoffDelay(failures, this.backoffBaseMs, this.backoffCapMs, this.random));
    }
    await this.opts.targets.recordResult({ request, result, startedAt, trustListLastUpdateTime: work.trustListLastUpdateTime, nextAttemptAt, actor: work.actor, servedRequestAt: work.servesRequest });
  }
}
