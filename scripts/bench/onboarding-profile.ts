// Reads a V8 .cpuprofile (node --cpu-prof) and sums self time per function and per origin
// (a package under node_modules, our dist/src, node internals, GC, idle), optionally only over a
// window of CLOCK_MONOTONIC time (the profile's timestamps are that clock, in microseconds, as is
// process.hrtime in any process on Linux).
import fs from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled ms in the window (all samples, idle included). */
  totalMs: number;
  /** True when the window matched no sample and the whole profile was used instead. */
  wholeProfile: boolean;
  byOrigin: { origin: string; ms: number; share: number }[];
  byFunction: { frame: string; origin: string; ms: number; share: number }[];
  /** Inclusive ms (self + callees, recursion counted once) of every frame, by frame label. */
  inclusiveMs: Map<string, number>;
}

/** Where a frame's code comes from: node_modules/<pkg>, dist/src, node:…, or a V8 pseudo-frame. */
export function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith("node:")) return "node: (internals)";
  const src = /\/dist\/(src|scripts)\//.exec(url);
  if (src) return `opcua-gds dist/${src[1]}`;
  return url;
}

/** Inclusive ms of the frames whose label matches `re` (summed; nested matches counted once each). */
export function inclusiveOf(s: ProfileSummary, re: RegExp): number {
  let ms = 0;
  for (const [l, v] of s.inclusiveMs) if (re.test(l)) ms += v;
  return ms;
}

export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  let inWindow = 0;
  const add = (useWindow: boolean) => {
    selfUs.clear();
    t = p.startTime;
    inWindow = 0;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i] ?? 0;
      // A sample's weight is the time to the next one.
      const next = p.timeDeltas[i + 1] ?? 0;
      if (useWindow && window && (t < window.fromUs || t > window.toUs)) continue;
      inWindow++;
      selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + next);
    }
  };
  add(true);
  const wholeProfile = window !== undefined && inWindow === 0;
  if (wholeProfile) add(false);

  const label = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/") : "";
    return `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
  };
  // Inclusive time: each sample counts once for every distinct frame on its stack.
  const inclusiveUs = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusiveUs.set(l, (inclusiveUs.get(l) ?? 0) + us);
    }
  }

  let total = 0;
  const origins = new Map<string, number>();
  const frames = new Map<string, { origin: string; us: number }>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const origin = originOf(node.callFrame.url, node.callFrame.functionName);
    origins.set(origin, (origins.get(origin) ?? 0) + us);
    const frame = label(node);
    const f = frames.get(frame) ?? { origin, us: 0 };
    f.us += us;
    frames.set(frame, f);
  }
  const share = (us: number) => (total > 0 ? us / total : 0);
  return {
    totalMs: total / 1000,
    wholeProfile,
    byOrigin: [...origins.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([origin, us]) => ({ origin, ms: us / 1000, share: share(us) })),
    byFunction: [...frames.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top).map(([frame, f]) => ({ frame, origin: f.origin, ms: f.us / 1000, share: share(f.us) })),
    inclusiveMs: new Map([...inclusiveUs].map(([l, us]) => [l, us / 1000])),
  };
}

/** CLOCK_MONOTONIC now, in microseconds (comparable with the profile's timestamps). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
