/**
 * The operator's figures (issue 5), computed in one place for GET /metrics, the admin object's
 * variables and GetStatus (`gds status`), so the three always agree. Everything is derived from
 * the services at the moment it is asked for: nothing is counted in memory, so the figures
 * survive restarts and cannot drift from the store.
 */
import type { Clock } from "../clock.js";
import { certificateState, type CertificateState } from "../requests/certificate-listing.js";
import type { CertificateRecord, RequestRecord } from "../requests/certificate-manager.types.js";

/** What the push service (issue 4) tells about its devices; it satisfies this structurally. */
export interface PushFigures {
  summary(): { managed: number; failed: number };
  onPushFinished?(listener: (e: PushFinishedEvent) => void): () => void;
}

export interface PushFinishedEvent {
  applicationId: string;
  ok: boolean;
  statusCode?: string;
  step?: string;
}

export interface FigureSources {
  directory: { count(): number };
  certificates: {
    listCertificates(): readonly CertificateRecord[];
    listRequests(filter?: { state?: RequestRecord["state"] }): readonly RequestRecord[];
  };
  clock: Clock;
  /** GDS_RENEW_BEFORE (ms): a certificate with less left than this is "expiring". */
  renewBeforeMs: number;
  /** The push service, when this server has one (it may be made after the figures). */
  push?: () => PushFigures | undefined;
}

export interface IssuedCount {
  group: string;
  type: string;
  count: number;
}

export interface GdsFigures {
  applications: number;
  certificates: Record<CertificateState, number> & { issued: number };
  /** Every certificate ever issued (revoked and expired included), by group and type. */
  issuedByGroupType: IssuedCount[];
  /** Revoked certificates by group and type. */
  revokedByGroupType: IssuedCount[];
  pendingRequests: number;
  /** null: no push service on this server. */
  push: { managed: number; failed: number } | null;
}

export function computeFigures(src: FigureSources): GdsFigures {
  const now = src.clock.now().getTime();
  const certificates = { issued: 0, valid: 0, expiring: 0, expired: 0, revoked: 0 };
  const issued = new Map<string, IssuedCount>();
  const revoked = new Map<string, IssuedCount>();
  const bump = (map: Map<string, IssuedCount>, c: CertificateRecord) => {
    const key = `${c.group}\u0000${c.type}`;
    const entry = map.get(key) ?? { group: c.group, type: c.type, count: 0 };
    entry.count += 1;
    map.set(key, entry);
  };
  for (const c of src.certificates.listCertificates()) {
    certificates.issued += 1;
    const state = certificateState(c, now, src.renewBeforeMs);
    certificates[state] += 1;
    bump(issued, c);
    if (state === "revoked") bump(revoked, c);
  }
  const byName = (a: IssuedCount, b: IssuedCount) => a.group.localeCompare(b.group) || a.type.localeCompare(b.type);
  let push: GdsFigures["push"] = null;
  const pushService = src.push?.();
  if (pushService) {
    const s = pushService.summary();
    push = { managed: s.managed, failed: s.failed };
  }
  return {
    applications: src.directory.count(),
    certificates,
    issuedByGroupType: [...issued.values()].sort(byName),
    revokedByGroupType: [...revoked.values()].sort(byName),
    pendingRequests: src.certificates.listRequests({ state: "pending" }).length,
    push,
  };
}

/**
 * computeFigures, computed at most once per turn of the event loop: a scrape collects a dozen
 * gauges and a client reads several variables in one request; each asks, one computation answers.
 * A later turn (the next request) computes afresh, so nothing stale is ever served.
 */
export class FigureSource {
  private cached: GdsFigures | undefined;

  constructor(private readonly sources: FigureSources) {}

  get renewBeforeMs(): number {
    return this.sources.renewBeforeMs;
  }

  get clock(): Clock {
    return this.sources.clock;
  }

  get push(): PushFigures | undefined {
    return this.sources.push?.();
  }

  figures(): GdsFigures {
    if (!this.cached) {
      this.cached = computeFigures(this.sources);
      setImmediate(() => (this.cached = undefined)).unref?.();
    }
    return this.cached;
  }
}

/** What GetStatus returns (`gds status --json`). */
export interface GdsStatus {
  endpoint: string;
  startedAt: string;
  uptimeSeconds: number;
  applications: number;
  certificates: GdsFigures["certificates"];
  /** GDS_RENEW_BEFORE in seconds: "expiring" means less than this left. */
  renewBeforeSeconds: number;
  pendingRequests: number;
  /** null: this server has no push management. */
  pushManagedDevices: number | null;
  failedPushes: number | null;
}

/** The status record from the figures; uptime is real time since startedAt (not the domain clock). */
export function statusOf(figures: GdsFigures, info: { endpoint: string; startedAt: Date; renewBeforeMs: number; nowMs?: number }): GdsStatus {
  const nowMs = info.nowMs ?? Date.now();
  return {
    endpoint: info.endpoint,
    startedAt: info.startedAt.toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((nowMs - info.startedAt.getTime()) / 1000)),
    applications: figures.applications,
    certificates: { ...figures.certificates },
    renewBeforeSeconds: Math.round(info.renewBeforeMs / 1000),
    pendingRequests: figures.pendingRequests,
    pushManagedDevices: figures.push?.managed ?? null,
    failedPushes: figures.push?.failed ?? null,
  };
}
