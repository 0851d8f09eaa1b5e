/**
 * `denocos`: the command that runs a cluster (DESIGN §6a).
 *
 * ```sh
 * denocos node [--cpus N] [--host H] [--port P] [--scheduler H:P] [--allow-read=…] …
 * denocos scheduler [--host H] [--port P] [--node H:P]…
 * denocos status [--scheduler H:P] [--json]
 * denocos run MODULE EXPORT [--scheduler H:P] [--node H:P]… [--inputs FILE.jsonl] [--json]
 * ```
 *
 * Exit codes: 0 ok, 1 failure, 2 bad usage (one line on stderr). The
 * cluster secret comes from `--secret-file` or `DENOCOS_SECRET`, never from
 * an argument.
 *
 * Run: deno task node   (or: deno run <flags> cli/main.ts --help)
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { EXIT_FAILURE, EXIT_USAGE, message, UsageError } from "./_common.ts";
import { nodeCommand } from "./node.ts";
import { runCommand } from "./run.ts";
import { schedulerCommand } from "./scheduler.ts";
import { statusCommand } from "./status.ts";

/** The version `denocos --version` prints. */
export const VERSION = "0.1.0";

/**
 * Whether this is a `deno compile`d binary: there, `Deno.execPath()` is
 * the binary itself, so a compute server process is started as
 * `denocos __server` instead of `deno run _server_main.ts`.
 */
export function isCompiled(): boolean {
  return import.meta.url.includes("/deno-compile-");
}

/**
 * The hidden `__server` subcommand: this process is a node's compute server
 * (`src/compute/_server_main.ts`, which talks to the node on stdin/stdout).
 * In a compiled binary a node may also start it the way it does under
 * `deno run` (`<binary> run <deno flags> …/_server_main.ts`), since the
 * binary is its own `Deno.execPath()`; that form is recognised too.
 */
export function isServerInvocation(args: string[], compiled: boolean = isCompiled()): boolean {
  if (args[0] === "__server") return true;
  return compiled && args[0] === "run" && args.length > 1 &&
    args.at(-1)!.endsWith("/src/compute/_server_main.ts") &&
    args.slice(1, -1).every((a) => a.startsWith("--"));
}

/**
 * Errors are printed by `main` on one line; plain help (commander would read
 * `NO_COLOR` / `FORCE_COLOR` / `CLICOLOR_FORCE`, which needs env permission).
 */
const OUTPUT = {
  outputError: () => {},
  getOutHasColors: () => false,
  getErrHasColors: () => false,
};

/** The program, with every subcommand; usage errors throw instead of exiting. */
export function program(): Command {
  const p = new Command("denocos")
    .description("denocos cluster: compute nodes, a shared scheduler, status and runs")
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput(OUTPUT);
  for (const sub of [nodeCommand(), schedulerCommand(), statusCommand(), runCommand()]) {
    sub.exitOverride().configureOutput(OUTPUT).allowExcessArguments(false);
    p.addCommand(sub);
  }
  return p;
}

/** Runs the command line `args`; resolves the exit code. */
export async function main(args: string[]): Promise<number> {
  if (isServerInvocation(args)) {
    // By URL, not a literal: type-checked together with commander's Node typings,
    // `_server_main.ts` would not check (its timers are Deno's); `deno compile` has it by --include.
    await import(new URL("../src/compute/_server_main.ts", import.meta.url).href);
    return new Promise<number>(() => {}); // it exits itself when the node closes its stdin
  }
  try {
    await program().parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      console.error(`denocos: ${e.message.replace(/^error: /, "").split("\n")[0]}`);
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      console.error(`denocos: ${e.message}`);
      return EXIT_USAGE;
    }
    console.error(`denocos: ${message(e)}`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
