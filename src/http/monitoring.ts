/**
 * The HTTP side of operations, put together: /metrics from GdsMetrics, /healthz from the
 * endpoint (OPC UA Hello → Acknowledge) and the store (isWritable), on GDS_HTTP_HOST:GDS_HTTP_PORT.
 */
import type { Logger } from "../log.js";
import { endpointCheck, HealthChecker, storeCheck } from "./health.js";
import { startHttpListener, type HttpListener } from "./http-server.js";
import type { GdsMetrics } from "./metrics.js";

export interface MonitoringOptions {
  host: string;
  /** 0: no listener. */
  port: number;
  metrics: GdsMetrics;
  store: { isWritable(): Promise<boolean> };
  /**
   * The OPC UA endpoint to check: a TCP connection to the address it binds (GDS_BIND_ADDRESS), or
   * to 127.0.0.1 when it listens on every interface.
   */
  endpoint: { port: number; url: string; bindAddress?: string };
  startedAt: Date;
  log: Logger;
}

/** Starts the listener (unless port is 0); resolves to undefined when there is none. */
export async function startMonitoringHttp(opts: MonitoringOptions): Promise<HttpListener | undefined> {
  if (opts.port === 0) return undefined;
  const health = new HealthChecker([endpointCheck({ host: checkHost(opts.endpoint.bindAddress), port: opts.endpoint.port, endpointUrl: opts.endpoint.url }), storeCheck(opts.store)], () => ({
    endpointUrl: opts.endpoint.url,
    uptimeSeconds: Math.floor((Date.now() - opts.startedAt.getTime()) / 1000),
  }));
  const listener = await startHttpListener({ host: opts.host, port: opts.port, metrics: opts.metrics, health, log: opts.log });
  opts.log.info({ url: listener.url }, `metrics and health on ${listener.url}/metrics and ${listener.url}/healthz`);
  return listener;
}

function checkHost(bindAddress: string | undefined): string {
  if (bindAddress === undefined || bindAddress === "0.0.0.0") return "127.0.0.1";
  if (bindAddress === "::") return "::1";
  return bindAddress;
}
