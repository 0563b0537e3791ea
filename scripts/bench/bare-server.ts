// A bare node-opcua server (standard nodeset only), the yardstick for the GDS's cold start.
// Env: BARE_PORT, BARE_DATA_DIR. Prints one line containing `listening` once the endpoint
// accepts connections; stops on SIGTERM/SIGINT.
import { OPCUACertificateManager, OPCUAServer, nodesets } from "node-opcua";

const port = Number(process.env.BARE_PORT);
const rootFolder = process.env.BARE_DATA_DIR;
if (!Number.isInteger(port) || port <= 0 || !rootFolder) {
  process.stderr.write("bare-server: set BARE_PORT and BARE_DATA_DIR\n");
  process.exit(2);
}

const serverCertificateManager = new OPCUACertificateManager({ rootFolder, automaticallyAcceptUnknownCertificate: true });
const server = new OPCUAServer({
  port,
  hostname: "127.0.0.1",
  nodeset_filename: [nodesets.standard],
  serverCertificateManager,
});
await server.initialize();
await server.start();

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server
    .shutdown(0)
    .then(() => serverCertificateManager.dispose())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
// Only now: a SIGTERM right after this line must find the handler in place.
process.stdout.write(`listening on ${server.getEndpointUrl()}\n`);
