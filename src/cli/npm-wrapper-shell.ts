import fs from "node:fs";

/**
 * npm runs package scripts and `npx`/`npm exec` commands through `sh -c "<command>"`, and on
 * SIGTERM/SIGINT it signals that shell only. Debian's sh (dash) forks the command instead of
 * replacing itself with it, so the shell dies and the server would keep running as an orphan that
 * still holds the data dir. Our own scripts `exec` the server (then npm signals it directly); for
 * `npx gds start` and copied scripts, the death of npm's wrapper shell is npm's stop request.
 *
 * Only that case is watched: a shell that npm started to run this command (npm sets
 * npm_lifecycle_event), invoked with `-c`. A server started any other way (systemd, a terminal,
 * `nohup … &`) is never stopped because its parent went away.
 */
export function isNpmWrapperShell(env: NodeJS.ProcessEnv, parentArgv: readonly string[] | undefined): boolean {
  if (!env.npm_lifecycle_event || !parentArgv || parentArgv.length < 3) return false;
  const shell = parentArgv[0]!.split("/").pop() ?? "";
  return parentArgv[1] === "-c" && /^(sh|dash|bash|ash|ksh|mksh|zsh|busybox)$/.test(shell);
}

/** The parent's argv from /proc (Linux); undefined where there is none. */
export function parentArgv(ppid: number = process.ppid): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${ppid}/cmdline`, "utf8");
    const argv = raw.split("\0");
    if (argv.at(-1) === "") argv.pop();
    return argv;
  } catch {
    return undefined;
  }
}

/**
 * When this process runs under npm's wrapper shell, calls `onGone` once that shell has gone (this
 * process was re-parented), checking every `intervalMs`. Returns a function that ends the watch,
 * or undefined when there is nothing to watch.
 */
export function watchNpmWrapperShell(onGone: () => void, opts: { env?: NodeJS.ProcessEnv; intervalMs?: number } = {}): (() => void) | undefined {
  const ppid = process.ppid;
  if (!isNpmWrapperShell(opts.env ?? process.env, parentArgv(ppid))) return undefined;
  const timer = setInterval(() => {
    if (process.ppid === ppid) return;
    clearInterval(timer);
    onGone();
  }, opts.intervalMs ?? 250);
  // The watch alone must not keep the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
