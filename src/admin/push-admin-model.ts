/** Admin methods of push management (issue 4): ids 1100–1199. See admin-model.ts. */
import type { AdminMethod } from "./admin-model.js";

export const PUSH_ADMIN_METHODS: AdminMethod[] = [];
