/**
 * `denocos run MODULE EXPORT`: a `Computation` over MODULE that runs
 * EXPORT once per line of `--inputs` (each line a JSON array of arguments,
 * or one JSON value as the only argument; without `--inputs`, once with no
 * arguments), on the nodes of `--scheduler` and/or `--node`s, with a
 * progress bar on a terminal. Prints each result in input order; exits 1
 * if any job failed.
 *
 * @module
 */
import { Command } from "commander";
import cliProgress from "cli-progress";
import { pathToFileURL } from "node:url";
import * as nodePath from "node:path";
import type { Location } from "../src/core/_internal.ts";
import { Computation } from "../src/compute/computation.ts";
import { DEFAULT_PORT } from "../src/net/scheduler.ts";
import {
  type CommonOptions,
  commonOptions,
  EXIT_FAILURE,
  hostPort,
  hostPorts,
  integer,
  message,
  readSecret,
  readUserFile,
  setupLogging,
  UsageError,
} from "./_common.ts";
import { NODE_PORT } from "./node.ts";
import { client } from "./status.ts";

interface RunOptions extends CommonOptions {
  scheduler?: Location;
  node?: Location[];
  inputs?: string;
  json?: boolean;
  timeout: number;
}

/** The `run` subcommand. */
export function runCommand(): Command {
  const cmd = new Command("run")
    .description("run EXPORT of MODULE on the cluster, once per input line, and print the results")
    .argument("<module>", "the module of job functions (it and its relative imports are shipped)")
    .argument("<export>", "the export to run: async (task, ...args) => result")
    .option(
      "--scheduler <host:port>",
      `the shared scheduler whose nodes to use (port default ${DEFAULT_PORT}; ` +
        `default 127.0.0.1:${DEFAULT_PORT} without --node)`,
      hostPort(DEFAULT_PORT),
    )
    .option(
      "--node <host:port>",
      `a node to use (port default ${NODE_PORT}); repeatable`,
      hostPorts(NODE_PORT),
    )
    .option("--inputs <file>", "JSON lines: each an array of arguments, or one argument")
    .option(
      "--json",
      'one JSON line per input: {"input", "ok", "value"} or {"input", "ok", "error"}',
    )
    .option(
      "--timeout <ms>",
      "give up scheduling after this many ms",
      integer(1, 3_600_000),
      30_000,
    );
  return commonOptions(cmd).action(runRun);
}

/** The argument lists of `--inputs`, one per non-blank line. */
export function parseInputs(text: string, file: string): { input: unknown; args: unknown[] }[] {
  const out: { input: unknown; args: unknown[] }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let input: unknown;
    try {
      input = JSON.parse(line);
    } catch (e) {
      throw new UsageError(`--inputs: ${file}:${i + 1}: not JSON: ${message(e)}`);
    }
    out.push({ input, args: Array.isArray(input) ? input : [input] });
  }
  return out;
}

/** JSON for any value the codec carries (bigint as a string, bytes and sets as arrays). */
function toJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_k, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return [...v];
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    if (v === undefined) return null;
    return v;
  });
}

async function runRun(module: string, exportName: string, options: RunOptions): Promise<void> {
  await setupLogging(options);
  const secret = await readSecret(options);
  const path = nodePath.resolve(module);
  try {
    if (!Deno.statSync(path).isFile) throw new Error("not a file");
  } catch (e) {
    throw new UsageError(`MODULE: cannot read '${module}': ${message(e)}`);
  }
  const jobs = options.inputs === undefined
    ? [{ input: [], args: [] }]
    : parseInputs(await readUserFile("--inputs", options.inputs), options.inputs);
  const at = options.scheduler ??
    (options.node === undefined ? { hostname: "127.0.0.1", port: DEFAULT_PORT } : undefined);
  const s = await client(secret);
  let failed = 0;
  const comp = new Computation({ module: pathToFileURL(path), scheduler: s, nodes: options.node });
  let bar: cliProgress.SingleBar | null = null;
  try {
    await comp.schedule({ location: at, timeout: options.timeout });
    if (Deno.stderr.isTerminal() && jobs.length > 0) {
      bar = new cliProgress.SingleBar({
        format: `${exportName} [{bar}] {value}/{total} jobs, {failed} failed, eta {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      bar.start(jobs.length, 0, { failed: 0 });
    }
    // Keep every server busy with a few queued jobs each, not the whole input at once.
    const window = Math.max(1, comp.servers().length * 4);
    const results: (string | null)[] = new Array(jobs.length).fill(null);
    let next = 0, printed = 0;
    // Results and the bar share the terminal only if stdout is one: then they wait for the end.
    const held: string[] | null = bar !== null && Deno.stdout.isTerminal() ? [] : null;
    const flush = () => {
      while (printed < jobs.length && results[printed] !== null) {
        const line = results[printed]!;
        results[printed++] = "";
        if (held !== null) held.push(line);
        else if (line.startsWith("\0")) console.error(line.slice(1));
        else console.log(line);
      }
    };
    const worker = async () => {
      while (next < jobs.length) {
        const i = next++;
        const { input, args } = jobs[i];
        try {
          const job = await comp.run(exportName, ...args);
          const value = await job.finish();
          results[i] = options.json
            ? `{"input":${toJson(input)},"ok":true,"value":${toJson(value)}}`
            : toJson(value);
        } catch (e) {
          failed++;
          results[i] = options.json
            ? `{"input":${toJson(input)},"ok":false,"error":${JSON.stringify(message(e))}}`
            : `\0error: input ${i + 1} ${toJson(input)}: ${message(e)}`;
        }
        bar?.increment(1, { failed });
        flush();
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, jobs.length) }, worker));
    bar?.stop();
    bar = null;
    for (const line of held ?? []) {
      if (line.startsWith("\0")) console.error(line.slice(1));
      else console.log(line);
    }
  } finally {
    bar?.stop();
    await comp.close();
    await s.finish();
  }
  if (failed > 0) Deno.exit(EXIT_FAILURE);
}
