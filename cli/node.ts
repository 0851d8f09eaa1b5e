/**
 * `denocos node`: a compute node on this machine (DESIGN §6a). Prints one
 * line when ready, `node <name> listening on H:P with N servers`, and runs
 * until SIGINT or SIGTERM, when its jobs are terminated (their clients hear
 * it) and its servers closed. A failing job never stops it.
 *
 * @module
 */
import { Command } from "commander";
import { getLogger } from "@logtape/logtape";
import type { Location } from "../src/core/_internal.ts";
import { ComputeNode } from "../src/compute/node.ts";
import type { PermissionSet } from "../src/compute/_permissions.ts";
import { DEFAULT_PORT } from "../src/net/scheduler.ts";
import {
  commonOptions,
  hostPorts,
  hp,
  integer,
  type ListenCliOptions,
  listenOptions,
  listenSettings,
  untilSignal,
} from "./_common.ts";

/** The port a node listens on unless told (the scheduler's is 9705). */
export const NODE_PORT = 9706;

interface NodeOptions extends ListenCliOptions {
  cpus?: number;
  scheduler?: Location[];
  peer?: Location[];
  allowRead?: string | true;
  allowNet?: string | true;
  serverMemory?: number;
}

/** A `--allow-x` value: bare means all, else a comma-separated list. */
function grant(value: string | true | undefined): boolean | string[] | undefined {
  if (value === undefined || value === true) return value;
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The `node` subcommand. */
export function nodeCommand(): Command {
  const cmd = listenOptions(
    new Command("node")
      .description("run a compute node: sandboxed servers that run the jobs of computations")
      .option(
        "--cpus <n>",
        "servers to offer each computation (default: one per CPU)",
        integer(1, 1024),
      ),
    NODE_PORT,
  )
    .option(
      "--scheduler <host:port>",
      `a shared scheduler to join (port default ${DEFAULT_PORT}); repeatable`,
      hostPorts(DEFAULT_PORT),
    )
    .option("--peer <host:port>", "another peer to link to; repeatable", hostPorts(DEFAULT_PORT))
    .option(
      "--allow-read [paths]",
      "paths jobs may read (comma-separated; bare: all); default none",
    )
    .option(
      "--allow-net [hosts]",
      "hosts jobs may reach (comma-separated; bare: all); default none",
    )
    .option(
      "--server-memory <mb>",
      "heap cap of each server process, in MiB",
      integer(16, 1 << 20),
    );
  return commonOptions(cmd).action(runNode);
}

async function runNode(options: NodeOptions): Promise<void> {
  const settings = await listenSettings(options);
  const logger = getLogger(["denocos", "cli"]);
  const allow: PermissionSet = {};
  const read = grant(options.allowRead), net = grant(options.allowNet);
  if (read !== undefined) allow.read = read;
  if (net !== undefined) allow.net = net;
  // A job's failure is its client's business; nothing it does may end the node.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    logger.warn("unhandled rejection: {error}", { error: e.reason });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    logger.error("uncaught error: {error}", { error: e.error });
  });
  const stop = untilSignal();
  const node = await ComputeNode.start({
    ...settings,
    cpus: options.cpus,
    allow,
    serverMemory: options.serverMemory,
    peers: [...options.scheduler ?? [], ...options.peer ?? []],
  });
  console.log(`node ${node.name} listening on ${hp(node.location)} with ${node.cpus} servers`);
  const signal = await stop;
  logger.info("{signal}: stopping; {jobs} jobs running", { signal, jobs: node.jobs });
  await node.close();
  Deno.exit(0);
}
