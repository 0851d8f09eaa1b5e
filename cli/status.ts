/**
 * `denocos status`: the cluster as the shared scheduler sees it, as a
 * table (nodes, servers, CPU, memory, jobs running and done) or `--json`.
 *
 * @module
 */
import { Command } from "commander";
import type { Location } from "../src/core/_internal.ts";
import {
  askScheduler,
  type ClusterSnapshot,
  SCHEDULER_SERVICES,
} from "../src/compute/compute_scheduler.ts";
import { DEFAULT_PORT, Scheduler } from "../src/net/scheduler.ts";
import {
  type CommonOptions,
  commonOptions,
  hostPort,
  hp,
  integer,
  readSecret,
  setupLogging,
} from "./_common.ts";

interface StatusOptions extends CommonOptions {
  scheduler: Location;
  json?: boolean;
  timeout: number;
}

/** The `status` subcommand. */
export function statusCommand(): Command {
  const cmd = new Command("status")
    .description("show the cluster: nodes, servers, CPU, memory, jobs running and done")
    .option(
      "--scheduler <host:port>",
      `the shared scheduler (port default ${DEFAULT_PORT})`,
      hostPort(DEFAULT_PORT),
      { hostname: "127.0.0.1", port: DEFAULT_PORT },
    )
    .option("--json", "print the snapshot as JSON")
    .option("--timeout <ms>", "give up after this many ms", integer(1, 3_600_000), 10_000);
  return commonOptions(cmd).action(runStatus);
}

/** A networked client for one command: listens on loopback, port 0. */
export async function client(secret: string): Promise<Scheduler> {
  const s = new Scheduler();
  await s.listen({ hostname: "127.0.0.1", port: 0, secret, discover: false });
  return s;
}

async function runStatus(options: StatusOptions): Promise<void> {
  await setupLogging(options);
  const secret = await readSecret(options);
  const s = await client(secret);
  try {
    const at = options.scheduler;
    await s.peer({ hostname: at.hostname, port: at.port, timeout: options.timeout });
    const snap = await askScheduler(s, at, SCHEDULER_SERVICES.status, {
      timeout: options.timeout,
    }) as ClusterSnapshot;
    console.log(options.json ? JSON.stringify(snap, null, 2) : table(snap));
  } finally {
    await s.finish();
  }
}

function pct(x: number | null): string {
  return x === null ? "-" : `${Math.round(x * 100)}%`;
}

function mib(x: number | null): string {
  return x === null ? "-" : `${Math.round(x / (1024 * 1024))} MiB`;
}

/** The snapshot as a plain-text table. */
export function table(snap: ClusterSnapshot): string {
  const head = [
    "NODE",
    "ADDRESS",
    "STATE",
    "SERVERS",
    "CPU",
    "MEM FREE",
    "LOAD",
    "RUNNING",
    "DONE",
  ];
  const rows = snap.nodes.map((n) => [
    n.name,
    hp(n.location),
    n.online ? "online" : "offline",
    `${n.servers}/${n.cpus}`,
    pct(n.cpu),
    n.memory === null ? "-" : `${mib(n.memory)} (${pct(n.memoryFraction)})`,
    n.load === null ? "-" : n.load.toFixed(2),
    String(n.jobsRunning),
    String(n.jobsDone),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const title = `scheduler ${snap.scheduler} at ${hp(snap.location)}: ${snap.nodes.length} node(s)`;
  return [title, line(head), ...rows.map(line)].join("\n");
}
