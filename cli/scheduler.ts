/**
 * `denocos scheduler`: the cluster's shared scheduler (DESIGN §6a). It
 * links to the nodes it is given and to every node that joins it, polls
 * them every second, and answers `denocos status` and
 * `Computation.schedule({ location })`. Prints one line when ready,
 * `scheduler <name> listening on H:P`; with `--dashboard PORT` it also
 * serves the web dashboard of the cluster's nodes there.
 *
 * @module
 */
import { Command } from "commander";
import { getLogger } from "@logtape/logtape";
import type { Location } from "../src/core/_internal.ts";
import { ComputeScheduler } from "../src/compute/compute_scheduler.ts";
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
import { NODE_PORT } from "./node.ts";

interface SchedulerOptions extends ListenCliOptions {
  node?: Location[];
  dashboard?: number;
}

/** The `scheduler` subcommand. */
export function schedulerCommand(): Command {
  const cmd = listenOptions(
    new Command("scheduler")
      .description("run the cluster's shared scheduler: it knows the nodes and tells clients"),
    DEFAULT_PORT,
  )
    .option(
      "--node <host:port>",
      `a node to link to (port default ${NODE_PORT}); repeatable`,
      hostPorts(NODE_PORT),
    )
    .option(
      "--dashboard <port>",
      "serve the cluster's web dashboard on this port (same host)",
      integer(0, 65535),
    );
  return commonOptions(cmd).action(runScheduler);
}

async function runScheduler(options: SchedulerOptions): Promise<void> {
  const settings = await listenSettings(options);
  const logger = getLogger(["denocos", "cli"]);
  const stop = untilSignal();
  const s = await ComputeScheduler.start({ ...settings, nodes: options.node });
  // The dashboard is up before the ready line, so whoever reads it can use both.
  let dashboard: { close(): Promise<void> } | null = null;
  let dashboardLine = "";
  if (options.dashboard !== undefined) {
    const { Dashboard } = await import("../src/monitor/dashboard.ts");
    dashboard = new Dashboard(s, {
      hostname: options.host,
      port: options.dashboard,
      onListen: ({ url, token }) =>
        dashboardLine = `dashboard on ${url}${token === undefined ? "" : ` (token ${token})`}`,
    });
  }
  console.log(`scheduler ${s.name} listening on ${hp(s.location)}`);
  if (dashboardLine !== "") console.log(dashboardLine);
  const signal = await stop;
  logger.info("{signal}: stopping", { signal });
  await dashboard?.close();
  await s.close();
  Deno.exit(0);
}
