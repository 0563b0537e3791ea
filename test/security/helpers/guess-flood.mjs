// A password-guessing client in its own process (as an attacker on another machine would be):
// opens COUNT anonymous sessions on one secure channel, prints "ready", and on a line "go" on stdin
// activates all of them at once as USER, each with another wrong password. Prints one line
// "result <i> <StatusCode name>" per attempt, then "done".
//   node guess-flood.mjs ENDPOINT_URL CLIENT_PKI_DIR COUNT USER
import readline from "node:readline";
import { MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, UserTokenType } from "node-opcua";

const [endpointUrl, pkiDir, countText, userName] = process.argv.slice(2);
const count = Number(countText);
const clientCertificateManager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true });
const client = OPCUAClient.create({
  applicationName: "guess-flood",
  applicationUri: "urn:opcua-gds-test-client:guess-flood",
  securityMode: MessageSecurityMode.SignAndEncrypt,
  securityPolicy: SecurityPolicy.Basic256Sha256,
  endpointMustExist: false,
  connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
  clientCertificateManager,
});
await client.connect(endpointUrl);
const sessions = await Promise.all(Array.from({ length: count }, () => client.createSession()));
process.stdout.write("ready\n");
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === "go") break;
}
await Promise.all(
  sessions.map((session, i) =>
    session.changeUser({ type: UserTokenType.UserName, userName, password: `wrong-guess-${i}-xyzzy` }).then(
      (status) => process.stdout.write(`result ${i} ${status.name}\n`),
      (err) => process.stdout.write(`result ${i} ${String(err.message).split(/\s/)[0]}\n`),
    ),
  ),
);
process.stdout.write("done\n");
await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
await client.disconnect();
await clientCertificateManager.dispose();
process.exit(0);
