import type { Clock } from "../clock.js";
import { FigureSource, statusOf, type PushFigures } from "../ops/gds-figures.js";
import { READ_ROLES, type AdminExtension } from "./install-admin.js";
import { installOpsVariables } from "./install-ops-variables.js";

export interface StatusAdminOptions {
  directory: { count(): number };
  clock: Clock;
  /** GDS_RENEW_BEFORE (ms). */
  renewBeforeMs: number;
  /** The push service, once there is one. */
  push?: () => PushFigures | undefined;
  /** When the server started (real time: uptime does not follow the domain clock). */
  startedAt: Date;
  /** The endpoint URL as clients use it (known once the endpoint listens). */
  endpointUrl: () => string;
}

/**
 * The operations figures on the admin object: the GetStatus method (`gds status`) and the figure
 * variables (ApplicationCount, …), both from the same computation as GET /metrics
 * (src/ops/gds-figures.ts).
 */
export function statusAdminExtension(opts: StatusAdminOptions): AdminExtension {
  return (ctx) => {
    const source = new FigureSource({
      directory: opts.directory,
      certificates: ctx.certificates,
      clock: opts.clock,
      renewBeforeMs: opts.renewBeforeMs,
      push: opts.push,
    });
    installOpsVariables({ addressSpace: ctx.addressSpace, readerRoles: ctx.access.roleNodeIds([...READ_ROLES, "Observer"]), figures: () => source.figures(), startedAt: opts.startedAt, log: ctx.log });
    return {
      GetStatus: async (_args, call) => {
        ctx.access.requireAnyRole(call, READ_ROLES);
        const status = statusOf(source.figures(), { endpoint: opts.endpointUrl(), startedAt: opts.startedAt, renewBeforeMs: opts.renewBeforeMs });
        return [JSON.stringify(status)];
      },
    };
  };
}
