#!/usr/bin/env node
/**
 * Installs the demo device's own dependencies (node-opcua 2.157, see device.mjs) with `npm ci`
 * when scripts/demo-device/node_modules is missing or older than its package-lock.json; does
 * nothing (fast) otherwise. Run from the root: `npm run demo:install` (also a `pretest` step).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = path.dirname(fileURLToPath(import.meta.url));
const lock = path.join(dir, "package-lock.json");
// npm writes node_modules/.package-lock.json at the end of every install: its time says when.
const marker = path.join(dir, "node_modules", ".package-lock.json");
const mtime = (f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : undefined);

const installed = mtime(marker);
if (installed !== undefined && installed >= mtime(lock)) process.exit(0);

process.stdout.write(`demo-device: installing its dependencies (npm ci in ${path.relative(process.cwd(), dir) || "."})\n`);
const npm = process.env.npm_execpath
  ? { cmd: process.execPath, args: [process.env.npm_execpath] }
  : { cmd: process.platform === "win32" ? "npm.cmd" : "npm", args: [] };
const r = spawnSync(npm.cmd, [...npm.args, "ci", "--no-audit", "--no-fund"], { cwd: dir, stdio: "inherit" });
if (r.status !== 0) {
  process.stderr.write(`demo-device: npm ci failed (${r.status ?? r.signal})\n`);
  process.exit(r.status || 1);
}
// npm ci keeps the lock file's time: make node_modules newer so the next run skips.
const now = new Date();
fs.utimesSync(marker, now, now);
