import net from "node:net";

/**
 * "Another machine" on loopback: a TCP relay on 127.0.0.1 that opens each connection to the GDS
 * from `localAddress` (e.g. 127.0.0.2), so the server sees that remote IP. Connect the client to
 * `endpointUrl`; the relay forwards bytes unchanged.
 */
export async function relayFrom(localAddress: string, target: { host: string; port: number }): Promise<{ endpointUrl: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: target.host, port: target.port, localAddress });
    sockets.add(inbound);
    sockets.add(outbound);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on("error", drop).on("close", drop);
    outbound.on("error", drop).on("close", drop);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
