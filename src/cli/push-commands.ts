import type { AdminCall } from "./admin-client.js";
import type { PushCommand } from "./args.js";
import { CliError, ExitCode } from "./cli-error.js";
import { expectArray, expectObject, formatJson, formatPushStatus, formatPushStatusTable, formatPushTarget, parseJsonResult } from "./format.js";

type Json = Record<string, unknown>;

/**
 * Not yet answered: a cycle runs, or the request waits for its first cycle. A request a failed
 * cycle did not fulfil stays pending on the server (retried with backoff), but has its answer.
 */
function pending(status: Json): boolean {
  const s = (status.status ?? {}) as Json;
  if (s.running === true) return true;
  if (typeof s.pushRequestedAt !== "string" || s.pushRequestedAt === "") return false;
  return s.pushRequestTriedAt !== s.pushRequestedAt;
}

/** `gds push set|remove|now|status` through the admin object (rows in src/admin/push-admin-model.ts). */
export async function runPushCommand(cmd: PushCommand, call: AdminCall, opts: { pollMs?: number; now?: () => number } = {}): Promise<string> {
  const { json } = cmd.admin;
  const pollMs = opts.pollMs ?? 1000;
  const now = opts.now ?? Date.now;
  switch (cmd.kind) {
    case "push set": {
      const [out] = await call("SetPushTarget", [
        cmd.applicationId,
        cmd.endpointUrl,
        cmd.securityPolicy,
        cmd.securityMode,
        cmd.userName,
        cmd.password,
        cmd.useGdsCertificate,
        cmd.regeneratePrivateKey,
      ]);
      const target = expectObject(parseJsonResult(out, "push target"), "push target");
      return json ? formatJson(target) : formatPushTarget(target);
    }
    case "push remove":
      await call("RemovePushTarget", [cmd.applicationId]);
      return json ? formatJson({ removed: cmd.applicationId }) : `removed push target ${cmd.applicationId}\n`;
    case "push now": {
      const started = now();
      const [out] = await call("PushNow", [cmd.applicationId, cmd.wait]);
      let status = expectObject(parseJsonResult(out, "push status"), "push status");
      if (!cmd.wait) return json ? formatJson(status) : `push of ${cmd.applicationId} scheduled\n`;
      while (pending(status) && now() - started < cmd.timeoutMs) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        const [again] = await call("GetPushStatus", [cmd.applicationId]);
        const list = expectArray(parseJsonResult(again, "push status"), "push status");
        if (list.length === 0) throw new CliError(`application ${cmd.applicationId} is no longer push-managed`, ExitCode.NotFound);
        status = list[0];
      }
      if (pending(status)) {
        throw new CliError(`the push to ${cmd.applicationId} has not ended after ${Math.round(cmd.timeoutMs / 1000)} s; see gds push status ${cmd.applicationId}`, ExitCode.Failure);
      }
      const s = (status.status ?? {}) as Json;
      if (s.lastResult === "waitingForApproval") {
        const id = String(s.pendingRequestId ?? "?");
        throw new CliError(`push to ${cmd.applicationId} is waiting for approval of signing request ${id}: approve it (gds requests approve ${id}) and the GDS delivers its certificate with the next cycle, without a new request`, ExitCode.Failure);
      }
      if (s.lastResult !== "ok") {
        const e = (s.lastError ?? {}) as Json;
        const failure = `step ${String(e.step ?? "?")}: ${String(e.statusCode ?? "Bad")}: ${String(e.message ?? "")}`;
        // The certificate part may have been done (and confirmed) before a later step failed.
        const cert = (s.certificate ?? {}) as Json;
        const renewed = typeof cert.confirmedAt === "string" && typeof s.lastAttempt === "string" && cert.confirmedAt >= s.lastAttempt;
        const what = renewed ? `partly failed: the device now serves certificate ${String(cert.serialHex)}, but ${failure}` : `failed at ${failure}`;
        throw new CliError(`push to ${cmd.applicationId} ${what}`, ExitCode.Failure);
      }
      return json ? formatJson(status) : formatPushStatus(status);
    }
    case "push status": {
      const [out] = await call("GetPushStatus", [cmd.applicationId ?? ""]);
      const list = expectArray(parseJsonResult(out, "push status"), "push status");
      if (json) return formatJson(cmd.applicationId === undefined ? list : (list[0] ?? {}));
      return cmd.applicationId === undefined ? formatPushStatusTable(list) : formatPushStatus(list[0] ?? {});
    }
  }
}
