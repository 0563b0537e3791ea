/**
 * Durations in settings and CLI flags: an integer and a unit, e.g. 90s, 10m, 12h, 365d, 20y
 * (y = 365 days). A bare number is refused: the unit is what makes a setting readable.
 */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 };

export function parseDuration(raw: string): number | undefined {
  const m = /^\s*(\d{1,9})\s*([smhdy])\s*$/.exec(raw);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 ? ms : undefined;
}

/** The largest unit that divides `ms` exactly, for logs and CLI output (90000 → "90s"). */
export function formatDuration(ms: number): string {
  for (const unit of ["y", "d", "h", "m", "s"]) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
