/**
 * GET /healthz: is the OPC UA endpoint answering, and can the store write? Each check has a time
 * limit, so a hung disk or a stuck endpoint yields a 503 within seconds, never a hung request.
 */
import net from "node:net";

export interface CheckResult {
  ok: boolean;
  /** What the check saw, for the JSON body: "accepting", "writable", or what failed. */
  detail: string;
}

export interface HealthCheck {
  /** Key in the JSON body ("endpoint", "store"). */
  name: string;
  run(): Promise<CheckResult>;
}

export interface HealthReport {
  ok: boolean;
  body: Record<string, unknown>;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 2000;

function withTimeout(check: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    timer.unref();
    check.run().then(
      (r) => {
        clearTimeout(timer);
        resolve(r);
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve({ ok: false, detail: `check failed: ${(err as Error)?.message ?? String(err)}` });
      },
    );
  });
}

/**
 * Runs the checks side by side, each bounded by timeoutMs. Requests that arrive while a run is in
 * progress share it: a flood of probes costs one store write, not one each.
 */
export class HealthChecker {
  private running: Promise<HealthReport> | undefined;

  constructor(
    private readonly checks: readonly HealthCheck[],
    private readonly extra: () => Record<string, unknown> = () => ({}),
    private readonly timeoutMs = DEFAULT_CHECK_TIMEOUT_MS,
  ) {}

  report(): Promise<HealthReport> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<HealthReport> {
    const results = await Promise.all(this.checks.map((c) => withTimeout(c, this.timeoutMs)));
    const failed = this.checks.filter((_, i) => !results[i].ok).map((c) => c.name);
    const body: Record<string, unknown> = { status: failed.length === 0 ? "ok" : "failing" };
    this.checks.forEach((c, i) => (body[c.name] = results[i].detail));
    if (failed.length > 0) body.failed = failed;
    return { ok: failed.length === 0, body: { ...body, ...this.extra() } };
  }
}

/** The store answers isWritable() (it writes and fsyncs a probe file in the data dir). */
export function storeCheck(store: { isWritable(): Promise<boolean> }): HealthCheck {
  return {
    name: "store",
    run: async () => ((await store.isWritable()) ? { ok: true, detail: "writable" } : { ok: false, detail: "not writable" }),
  };
}

/**
 * An OPC UA Hello message (OPC 10000-6 §7.1.2.3) for the given endpoint URL. The endpoint must
 * answer it with Acknowledge: a TCP connect alone would succeed against a listening socket whose
 * server no longer processes messages.
 */
export function helloMessage(endpointUrl: string): Buffer {
  const url = Buffer.from(endpointUrl, "utf8");
  const size = 8 + 20 + 4 + url.length;
  const b = Buffer.alloc(size);
  b.write("HELF", 0, "ascii");
  b.writeUInt32LE(size, 4);
  b.writeUInt32LE(0, 8); // ProtocolVersion
  b.writeUInt32LE(65535, 12); // ReceiveBufferSize
  b.writeUInt32LE(65535, 16); // SendBufferSize
  b.writeUInt32LE(0, 20); // MaxMessageSize: no limit
  b.writeUInt32LE(0, 24); // MaxChunkCount: no limit
  b.writeInt32LE(url.length, 28);
  url.copy(b, 32);
  return b;
}

/** Connects to host:port, says Hello, and expects Acknowledge (ACKF). */
export function endpointCheck(target: { host: string; port: number; endpointUrl: string }): HealthCheck {
  return {
    name: "endpoint",
    run: () =>
      new Promise<CheckResult>((resolve) => {
        const socket = net.connect({ host: target.host, port: target.port });
        let received = Buffer.alloc(0);
        let done = false;
        const finish = (r: CheckResult) => {
          if (done) return;
          done = true;
          socket.destroy();
          resolve(r);
        };
        socket.setTimeout(DEFAULT_CHECK_TIMEOUT_MS, () => finish({ ok: false, detail: "connected, but no answer to Hello" }));
        socket.once("connect", () => socket.write(helloMessage(target.endpointUrl)));
        socket.on("data", (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          if (received.length < 4) return;
          const type = received.subarray(0, 4).toString("ascii");
          if (type === "ACKF") finish({ ok: true, detail: "accepting" });
          else finish({ ok: false, detail: `answered Hello with ${JSON.stringify(type)}` });
        });
        socket.once("error", (err: NodeJS.ErrnoException) => finish({ ok: false, detail: `not accepting connections: ${err.code ?? err.message}` }));
        socket.once("close", () => finish({ ok: false, detail: "closed the connection without answering Hello" }));
      }),
  };
}
