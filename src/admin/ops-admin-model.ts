/** Admin methods of the operations side (issue 5): ids 1200–1299. See admin-model.ts. */
import type { AdminMethod } from "./admin-model.js";

export const OPS_ADMIN_METHODS: AdminMethod[] = [];
