/**
 * GET /metrics: Prometheus text format from prom-client, every name prefixed `gds_`.
 *
 * Each server has its own Registry (never prom-client's global one), so several servers in one
 * process (jest) do not collide. Figures about what the GDS holds are computed at scrape time from
 * the services (collect()), so they survive restarts and cannot drift from the store:
 *
 * - gds_certificates_issued_total and gds_certificates_revoked_total are counters although they
 *   are derived, not incremented: certificate records are never deleted (revoked and expired ones
 *   stay in the store), so the counts only ever grow, also across restarts, and rate()/increase()
 *   work on them. A counter kept in memory would restart from 0 with every restart and say
 *   nothing about what was issued before.
 * - method calls, their duration and pushes are events of this process: in-memory counters and a
 *   histogram, reset by a restart as Prometheus expects (it handles counter resets).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FigureSource, PushFigures, PushFinishedEvent } from "../ops/gds-figures.js";

export const METRICS_PREFIX = "gds_";

/** Method-call duration buckets (seconds): most calls take about a millisecond, a key pair ~0.3 s. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MethodCall {
  method: string;
  status: string;
  seconds: number;
}

export class GdsMetrics {
  readonly registry = new Registry();
  private readonly methodCalls: Counter<"method" | "status">;
  private readonly methodDuration: Histogram<"method" | "status">;
  private readonly pushes: Counter<"result">;
  private readonly loginFailures: Counter<"reason">;
  private stopPush: (() => void) | undefined;
  private pushSource: PushFigures | undefined;

  constructor(private readonly source: FigureSource) {
    const registers = [this.registry];
    const figures = () => source.figures();
    const p = METRICS_PREFIX;

    new Gauge({
      name: `${p}applications_registered`,
      help: "Applications registered in the Directory.",
      registers,
      collect() {
        this.set(figures().applications);
      },
    });
    new Counter({
      name: `${p}certificates_issued_total`,
      help: "Certificates this GDS has issued (revoked and expired included), by certificate group and type. Derived from the store.",
      labelNames: ["group", "type"],
      registers,
      collect() {
        this.reset();
        for (const c of figures().issuedByGroupType) this.inc({ group: c.group, type: c.type }, c.count);
      },
    });
    new Counter({
      name: `${p}certificates_revoked_total`,
      help: "Issued certificates that have been revoked, by certificate group and type. Derived from the store.",
      labelNames: ["group", "type"],
      registers,
      collect() {
        this.reset();
        for (const c of figures().revokedByGroupType) this.inc({ group: c.group, type: c.type }, c.count);
      },
    });
    new Gauge({
      name: `${p}certificates_expiring`,
      help: `Issued certificates, not revoked, that expire within GDS_RENEW_BEFORE (${Math.round(source.renewBeforeMs / 1000)} s).`,
      registers,
      collect() {
        this.set(figures().certificates.expiring);
      },
    });
    new Gauge({
      name: `${p}certificates`,
      help: "Issued certificates by state: valid, expiring (within GDS_RENEW_BEFORE), expired, revoked.",
      labelNames: ["state"],
      registers,
      collect() {
        const c = figures().certificates;
        for (const state of ["valid", "expiring", "expired", "revoked"] as const) this.set({ state }, c[state]);
      },
    });
    new Gauge({
      name: `${p}requests_pending`,
      help: "Certificate requests waiting for a RegistrationAuthorityAdmin's decision.",
      registers,
      collect() {
        this.set(figures().pendingRequests);
      },
    });
    const self = this;
    new Gauge({
      name: `${p}push_managed_devices`,
      help: "Applications whose certificates and trust lists the GDS pushes (0 without a push service).",
      registers,
      collect() {
        // A push service made after the metrics is counted from the first scrape that sees it.
        const push = source.push;
        if (push) self.attachPush(push);
        this.set(figures().push?.managed ?? 0);
      },
    });
    new Gauge({
      name: `${p}push_failed_devices`,
      help: "Push-managed applications whose last push failed (0 without a push service).",
      registers,
      collect() {
        this.set(figures().push?.failed ?? 0);
      },
    });
    this.methodCalls = new Counter({
      name: `${p}method_calls_total`,
      help: "OPC UA method calls answered (Directory, CertificateManager, trust-list files, admin object), by method and resulting StatusCode.",
      labelNames: ["method", "status"],
      registers,
    });
    this.methodDuration = new Histogram({
      name: `${p}method_call_duration_seconds`,
      help: "Time from a method call reaching its handler to its answer, by method and resulting StatusCode.",
      labelNames: ["method", "status"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.pushes = new Counter({
      name: `${p}pushes_total`,
      help: "Pushes to devices finished since start, by result (ok, failed).",
      labelNames: ["result"],
      registers,
    });
    // Both results are shown from the start, so rate() has a series before the first push.
    this.pushes.inc({ result: "ok" }, 0);
    this.pushes.inc({ result: "failed" }, 0);
    this.loginFailures = new Counter({
      name: `${p}login_failures_total`,
      help: "Failed logins (ActivateSession refused) since start, by reason: wrong-password, unknown-user, throttled, busy, weak-hash, certificate-not-bound, token-rejected.",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of ["wrong-password", "unknown-user", "throttled", "busy"]) this.loginFailures.inc({ reason }, 0);
    collectDefaultMetrics({ register: this.registry, prefix: p });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text of GET /metrics. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  observeMethodCall(call: MethodCall): void {
    const labels = { method: call.method, status: call.status };
    this.methodCalls.inc(labels);
    this.methodDuration.observe(labels, call.seconds);
  }

  observePush(e: Pick<PushFinishedEvent, "ok">): void {
    this.pushes.inc({ result: e.ok ? "ok" : "failed" });
  }

  observeLoginFailure(reason: string): void {
    this.loginFailures.inc({ reason });
  }

  /** Counts the pushes the push service reports (if it reports them). */
  attachPush(push: PushFigures): void {
    if (this.pushSource === push) return;
    this.stopPush?.();
    this.pushSource = push;
    this.stopPush = push.onPushFinished?.((e) => this.observePush(e));
  }

  close(): void {
    this.stopPush?.();
    this.stopPush = undefined;
    this.registry.clear();
  }
}
