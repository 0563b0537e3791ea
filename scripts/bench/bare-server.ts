// A bare node-opcua server (standard nodeset only), the yardstick for the GDS's cold start.
// Env: BARE_PORT, BARE_DATA_DIR. Prints one line containing `listening` once the endpoint
// accepts connections; stops on SIGTERM/SIGINT.
//
// With BARE_USER and BARE_PASSWORD set (the pull-onboarding benchmark's stack limit,
// onboarding-bench.ts) it also accepts that one user (UserName token), allows 200 sessions and
// connections like the GDS, and has a trivial method, ns=1;s=Bench.Ping on ns=1;s=Bench (no
// arguments, answers Good). BARE_PASSWORD_CHECK=scrypt checks the password with the GDS's own
// scrypt hash (src/users/password-hash.ts) instead of a string compare.
import { OPCUACertificateManager, OPCUAServer, StatusCodes, nodesets, type ISessionContext, type OPCUAServerOptions, type Variant } from "node-opcua";

const port = Number(process.env.BARE_PORT);
const rootFolder = process.env.BARE_DATA_DIR;
if (!Number.isInteger(port) || port <= 0 || !rootFolder) {
  process.stderr.write("bare-server: set BARE_PORT and BARE_DATA_DIR\n");
  process.exit(2);
}

const benchUser = process.env.BARE_USER;
const benchPassword = process.env.BARE_PASSWORD;
const onboardingOptions = async (): Promise<Partial<OPCUAServerOptions>> => {
  if (!benchUser || !benchPassword) return {};
  let check = async (password: string) => password === benchPassword;
  if (process.env.BARE_PASSWORD_CHECK === "scrypt") {
    const { hashPassword, verifyPassword } = await import("../../src/users/password-hash.js");
    const hash = await hashPassword(benchPassword);
    check = (password) => verifyPassword(password, hash);
  }
  return {
    userManager: {
      isValidUserAsync: (userName: string, password: string, callback: (err: Error | null, ok?: boolean) => void) => {
        if (userName !== benchUser) return callback(null, false);
        check(password).then(
          (ok) => callback(null, ok),
          (err) => callback(err as Error),
        );
      },
    },
    serverCapabilities: { maxSessions: 200 },
    maxConnectionsPerEndpoint: 200,
  };
};

const serverCertificateManager = new OPCUACertificateManager({ rootFolder, automaticallyAcceptUnknownCertificate: true });
const server = new OPCUAServer({
  port,
  hostname: "127.0.0.1",
  nodeset_filename: [nodesets.standard],
  serverCertificateManager,
  ...(await onboardingOptions()),
});
await server.initialize();
if (benchUser && benchPassword) {
  const namespace = server.engine.addressSpace!.getOwnNamespace();
  const bench = namespace.addObject({ nodeId: "s=Bench", browseName: "Bench", organizedBy: server.engine.addressSpace!.rootFolder.objects });
  const ping = namespace.addMethod(bench, { nodeId: "s=Bench.Ping", browseName: "Ping", inputArguments: [], outputArguments: [] });
  // An async handler must declare exactly two parameters.
  ping.bindMethod(async (_inputArguments: Variant[], _context: ISessionContext) => ({ statusCode: StatusCodes.Good, outputArguments: [] }));
}
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
