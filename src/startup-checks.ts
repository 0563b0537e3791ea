import net from "node:net";
import type { GdsConfig } from "./config.js";
import { ConfigError } from "./errors.js";

/**
 * What can make a start fail, checked before the start creates anything (users, CAs, the server's
 * certificate): a first start that fails must leave nothing behind, so the next one starts afresh.
 */

async function listenOnce(host: string | undefined, port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

async function close(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * The opc.tcp port (on GDS_BIND_ADDRESS, else every interface) and the HTTP port (unless 0) can
 * be listened on, also together. Throws ConfigError naming the setting. The ports are released
 * again at once; the listeners take them moments later.
 */
export async function checkPortsFree(config: Pick<GdsConfig, "port" | "bindAddress" | "httpPort" | "httpHost">): Promise<void> {
  const held: net.Server[] = [];
  try {
    try {
      held.push(await listenOnce(config.bindAddress, config.port));
    } catch (err) {
      const where = config.bindAddress ? `${config.bindAddress}:${config.port}` : `port ${config.port}`;
      throw new ConfigError("GDS_PORT", `cannot listen on ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (another process uses it, or it needs privileges: set another port)`);
    }
    if (config.httpPort !== 0) {
      try {
        held.push(await listenOnce(config.httpHost, config.httpPort));
      } catch (err) {
        throw new ConfigError("GDS_HTTP_PORT", `cannot listen on ${config.httpHost}:${config.httpPort} for /metrics and /healthz: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (set another port, or 0 to turn the HTTP listener off)`);
      }
    }
  } finally {
    await Promise.all(held.map(close));
  }
}
