import net from "node:net";

/**
 * A TCP relay on 127.0.0.1 that reaches the server from another loopback source address
 * (127.0.0.2, …), so the server sees a second client machine. (On Linux a connection *to*
 * 127.0.0.2 still comes *from* 127.0.0.1; the source address is chosen by binding it.)
 */
export interface LoopbackRelay {
  /** opc.tcp URL of the relay. */
  url: string;
  /** Cuts every relayed connection abruptly, as a client that dies or loses its network. */
  cutAll(): void;
  close(): Promise<void>;
}

export async function loopbackRelay(sourceAddress: string, targetPort: number): Promise<LoopbackRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port: targetPort, localAddress: sourceAddress });
    sockets.add(inbound);
    sockets.add(outbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on("error", end).on("close", end);
    outbound.on("error", end).on("close", end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    url: `opc.tcp://127.0.0.1:${port}`,
    cutAll,
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
