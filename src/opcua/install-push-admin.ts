import { GdsError } from "../errors.js";
import type { PushScheduler } from "../push/push-scheduler.js";
import type { PushTargetService } from "../push/push-target-service.js";
import type { PushStatusView, PushTargetView } from "../push/push-target.types.js";
import { booleanArg, stringArg } from "./arguments.js";
import { READ_ROLES, type AdminExtension } from "./install-admin.js";

/** Push management as the admin methods see it (built in server.ts once the CertificateManager is ready). */
export interface PushManagement {
  targets: PushTargetService;
  scheduler: PushScheduler;
}

/** PushNow with Wait returns after this at the latest (below clients' usual 60 s call timeout). */
export const PUSH_NOW_MAX_WAIT_MS = 45_000;
/** OPC 10000-12 §6 / gds-spec §6: SecurityAdmin administers push targets. */
const PUSH_ADMIN_ROLES = ["SecurityAdmin"];

/**
 * Bodies of SetPushTarget, RemovePushTarget, PushNow and GetPushStatus (rows in
 * src/admin/push-admin-model.ts). `push` resolves once the CertificateManager is ready; calls that
 * arrive before wait for it. ApplicationIds go out as GUIDs, as ListApplications shows them.
 */
export function pushAdminExtension(push: Promise<PushManagement>): AdminExtension {
  return ({ codec, access, log }) => {
    const idString = (guid: string): string => {
      try {
        return codec.idString(guid);
      } catch {
        return guid;
      }
    };
    const targetJson = (t: PushTargetView) => ({ ...t, applicationId: idString(t.applicationId) });
    const statusJson = (s: PushStatusView) => ({ ...s, applicationId: idString(s.applicationId) });
    const appId = (text: string) => {
      if (text.trim() === "") throw new GdsError("BadInvalidArgument", "ApplicationId: must not be empty");
      return codec.parseIdString(text);
    };
    const actor = (userName: string | undefined) => userName ?? "unknown";

    return {
      SetPushTarget: async (args, call) => {
        access.requireAnyRole(call, PUSH_ADMIN_ROLES);
        const applicationId = appId(stringArg(args, 0, "ApplicationId", 256));
        const { targets } = await push;
        const view = await targets.setTarget(
          {
            applicationId,
            endpointUrl: stringArg(args, 1, "EndpointUrl", 1024),
            securityPolicy: stringArg(args, 2, "SecurityPolicy", 256),
            securityMode: stringArg(args, 3, "SecurityMode", 64),
            userName: stringArg(args, 4, "UserName", 256),
            password: stringArg(args, 5, "Password", 1024),
            useGdsCertificate: booleanArg(args, 6, "UseGdsCertificate"),
            regeneratePrivateKey: booleanArg(args, 7, "RegeneratePrivateKey"),
          },
          actor(call.userName),
        );
        return [JSON.stringify(targetJson(view))];
      },
      RemovePushTarget: async (args, call) => {
        access.requireAnyRole(call, PUSH_ADMIN_ROLES);
        const applicationId = appId(stringArg(args, 0, "ApplicationId", 256));
        const { targets } = await push;
        await targets.removeTarget(applicationId, actor(call.userName));
        return [];
      },
      PushNow: async (args, call) => {
        access.requireAnyRole(call, PUSH_ADMIN_ROLES);
        const applicationId = appId(stringArg(args, 0, "ApplicationId", 256));
        const wait = booleanArg(args, 1, "Wait");
        const { scheduler } = await push;
        log.info({ applicationId, user: call.userName, wait }, "push now requested");
        const status = await scheduler.pushNow(applicationId, actor(call.userName), wait ? PUSH_NOW_MAX_WAIT_MS : 0);
        return [JSON.stringify(statusJson(status))];
      },
      GetPushStatus: async (args, call) => {
        access.requireAnyRole(call, READ_ROLES);
        const text = stringArg(args, 0, "ApplicationId", 256);
        const { scheduler } = await push;
        const list = await scheduler.status(text.trim() === "" ? undefined : codec.parseIdString(text));
        return [JSON.stringify(list.map(statusJson))];
      },
    };
  };
}
