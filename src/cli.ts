#!/usr/bin/env node
// reflect-metadata must be loaded before anything that may pull in @peculiar/x509.
import "reflect-metadata";
import { runCli } from "./cli/main.js";

const exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
process.exitCode = exitCode;
