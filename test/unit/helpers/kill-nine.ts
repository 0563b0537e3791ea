import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The kill -9 harness of the store and audit log tests: a child process runs plain node on the
 * build output of a src module, prints "ready" once it is set up and then one line per
 * acknowledged write; the test kills it with SIGKILL mid-stream and checks what survived.
 */

const repo = process.cwd();

/**
 * The file URL of the build output of `src/<entry>.ts` (e.g. "store/lowdb-store"). The child runs
 * plain node on dist, so it is compiled again (with what it imports) when it or one of `imports`
 * (same form) is missing from dist or older than its source.
 */
export function compiledModuleUrl(entry: string, imports: readonly string[]): string {
  const stale = [entry, ...imports].some((n) => {
    const out = path.join(repo, "dist/src", `${n}.js`);
    const src = path.join(repo, "src", `${n}.ts`);
    return !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs;
  });
  if (stale) {
    const tsc = path.join(repo, "node_modules/typescript/bin/tsc");
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        ...["--ignoreConfig", "--outDir", "dist", "--rootDir", ".", "--module", "nodenext", "--moduleResolution", "nodenext"],
        ...["--target", "ES2022", "--strict", "--skipLibCheck", "--sourceMap", "--types", "node"],
        `src/${entry}.ts`,
      ],
      { cwd: repo, encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`compiling src/${entry}.ts failed: ${r.stdout}${r.stderr}`);
  }
  return pathToFileURL(path.join(repo, "dist/src", `${entry}.js`)).href;
}

/**
 * Runs `node <script> <args…>` and kills it with SIGKILL `afterMs` after it printed "ready".
 * Resolves with the complete lines it printed after "ready" (the acknowledged writes); rejects if
 * it ended any other way.
 */
export function runAndKill(script: string, args: string[], afterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, [script, ...args], {
      cwd: repo,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
      if (!timer && out.startsWith("ready\n")) timer = setTimeout(() => child.kill("SIGKILL"), afterMs);
    });
    child.stderr.on("data", (chunk: string) => (err += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== "SIGKILL") return reject(new Error(`child exited ${code}/${signal}: ${err}`));
      const lines = out.split("\n");
      lines.pop(); // an incomplete last line is not an acknowledgement
      resolve(lines.filter((l) => l !== "ready"));
    });
  });
}
