import { parseDuration } from "../duration.js";

/**
 * The `--since` of `gds audit` and the Since input of ReadAuditLog: a duration back from now
 * (90s, 10m, 2h, 7d, 1y, as parseDuration reads them) or an ISO 8601 time with a date
 * (2026-11-25, 2026-11-25T10:00:00Z). "" → undefined (no lower bound). Anything else → undefined
 * with `ok: false`, so each side words its own error.
 */
export function parseSince(text: string, now: Date): { ok: true; since: Date | undefined } | { ok: false } {
  const s = text.trim();
  if (s === "") return { ok: true, since: undefined };
  const ms = parseDuration(s);
  if (ms !== undefined) return { ok: true, since: new Date(now.getTime() - ms) };
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(s)) {
    const t = Date.parse(s);
    if (!Number.isNaN(t)) return { ok: true, since: new Date(t) };
  }
  return { ok: false };
}

export const SINCE_FORMS = "a duration back from now (e.g. 90s, 30m, 2h, 7d) or an ISO 8601 time (e.g. 2026-11-25T10:00:00Z)";
