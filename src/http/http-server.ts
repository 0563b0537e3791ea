/**
 * The operator's HTTP listener (GDS_HTTP_HOST:GDS_HTTP_PORT): GET /metrics and GET /healthz,
 * nothing else (404). Plain node:http; no OPC UA here: what it serves comes in as functions.
 */
import http from "node:http";
import { ConfigError } from "../errors.js";
import type { Logger } from "../log.js";
import type { HealthChecker } from "./health.js";

export interface HttpListenerOptions {
  host: string;
  /** 0 is not "off" here: the caller does not start a listener then. */
  port: number;
  metrics: { contentType: string; metrics(): Promise<string> };
  health: HealthChecker;
  log: Logger;
}

export interface HttpListener {
  /** The port actually bound. */
  port: number;
  url: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  res.end(head ? undefined : body);
}

const json = (value: unknown) => JSON.stringify(value) + "\n";

export async function startHttpListener(opts: HttpListenerOptions): Promise<HttpListener> {
  const { log } = opts;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const head = req.method === "HEAD";
    const isGet = req.method === "GET" || head;
    const fail = (err: unknown) => {
      log.error({ err, path }, "HTTP request failed");
      if (!res.headersSent) send(res, 500, "application/json", json({ error: "internal error; see the server log" }), head);
      else res.destroy();
    };
    if (isGet && path === "/metrics") {
      opts.metrics.metrics().then((text) => send(res, 200, opts.metrics.contentType, text, head), fail);
    } else if (isGet && path === "/healthz") {
      opts.health.report().then((r) => {
        if (!r.ok) log.warn({ health: r.body }, "health check failing");
        send(res, r.ok ? 200 : 503, "application/json", json(r.body), head);
      }, fail);
    } else {
      send(res, 404, "application/json", json({ error: "not found; this listener serves GET /metrics and GET /healthz" }), head);
    }
  });
  // A slow or stuck client cannot hold a connection for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(new ConfigError("GDS_HTTP_PORT", `cannot listen on ${opts.host}:${opts.port} for /metrics and /healthz: ${err.code ?? err.message} (set another port, or 0 to turn the HTTP listener off)`));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ host: opts.host, port: opts.port });
  });
  server.on("error", (err) => log.error({ err }, "HTTP listener error"));
  const port = (server.address() as { port: number }).port;
  const hostInUrl = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const url = `http://${hostInUrl}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
