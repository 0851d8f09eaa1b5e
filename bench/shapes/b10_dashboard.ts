/**
 * B10 (issue 10): the dashboard under a busy cluster. A synthetic status
 * stream of 50 nodes × 1,000 jobs (each job a `TaskStarted` and, about a
 * second later, its `MonitorStatus`; each node an availability pulse a
 * second) flows into a `Dashboard` with one viewer reading its event
 * stream, over `seconds` (default 20: 2,500 jobs a second).
 *
 * - "CPU": the process's CPU time (`process.cpuUsage`, user + system) with
 *   the dashboard, minus the same stream with no dashboard in the same run,
 *   over the wall time, in % of one core (target ≤ 10 %). The viewer runs
 *   in this process too, so its reading counts against the dashboard: an
 *   upper bound.
 * - "latency": from the moment a probe job starts (one a second, its name
 *   carries the time) until the viewer reads it off the stream, the worst
 *   of the run (target ≤ 500 ms; the median is `median_ms`).
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-read bench/shapes/b10_dashboard.ts [seconds]`
 *
 * @module
 */
import process from "node:process";
import { MonitorStatus, type Task } from "../../mod.ts";
import { NodeAvailability, StatusMessage } from "../../src/compute/mod.ts";
import { Dashboard, type StatusSource } from "../../src/monitor/mod.ts";

const SECONDS = Number(Deno.args[0] ?? 20);
const NODES = 50;
const JOBS_PER_NODE = 1000;
const TICK = 10;

function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B10", ...row }));
}

class Source implements StatusSource {
  listeners: ((m: unknown) => void)[] = [];
  addStatusListener(fn: (m: unknown) => void): () => void {
    this.listeners.push(fn);
    return () => this.listeners.splice(this.listeners.indexOf(fn), 1);
  }
  send(m: unknown): void {
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i](m);
  }
}

const nodes = Array.from({ length: NODES }, (_, i) => ({ hostname: "10.0.0.1", port: 9000 + i }));

/** Feeds the stream for `SECONDS`; resolves when done. */
async function generate(source: Source): Promise<void> {
  for (const n of nodes) {
    source.send(
      new StatusMessage("NodeInitialized", n, { info: { name: `node${n.port}`, cpus: 4 } }),
    );
    for (const s of ["0", "1", "2", "3"]) {
      source.send(new StatusMessage("ServerInitialized", n, { server: s }));
    }
  }
  const total = NODES * JOBS_PER_NODE;
  const t0 = performance.now();
  const live: { task: { key: string }; end: number }[] = [];
  let started = 0, nextPulse = t0, nextProbe = t0, probes = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - t0) / (SECONDS * 1000) * total));
    for (; started < due; started++) {
      const node = nodes[started % NODES];
      const id = started;
      const probe = now >= nextProbe;
      if (probe) nextProbe += 1000;
      const task = {
        key: `p${node.port}/1/${id}`,
        id,
        name: "compute",
        location: node,
        terminate: () => true,
      };
      source.send(
        new StatusMessage("TaskStarted", node, {
          server: String(id % 4),
          task,
          info: { name: probe ? `probe-${Date.now()}-${probes++}` : "compute", args: [id, 1000] },
        }),
      );
      live.push({ task, end: now + 1000 });
    }
    while (live.length > 0 && live[0].end <= now) {
      const { task } = live.shift()!;
      source.send(new MonitorStatus(task as unknown as Task, "finished", task.key.length));
    }
    if (now >= nextPulse) {
      nextPulse += 1000;
      for (const n of nodes) {
        source.send(
          new NodeAvailability(n, {
            cpu: Math.random(),
            memory: 2 ** 33,
            memoryFraction: 0.5,
            load: 2,
          }),
        );
      }
    }
    await new Promise((r) => setTimeout(r, TICK));
  }
}

function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
}

// Reference: the stream alone.
const refSource = new Source();
let c0 = cpu(), w0 = performance.now();
await generate(refSource);
const refCpu = cpu() - c0, refWall = performance.now() - w0;

// With the dashboard and one viewer.
const source = new Source();
const dashboard = new Dashboard(source, { port: 0, onListen: () => {} });
const latencies: number[] = [];
let pushes = 0, bytes = 0;
const res = await fetch(new URL("api/events", dashboard.url));
const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
const reading = (async () => {
  const re = /"probe-(\d+)-(\d+)"/g;
  const seen = new Set<string>();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    bytes += value.length;
    pushes += value.split("event: changes").length - 1;
    const now = Date.now();
    for (const m of value.matchAll(re)) {
      if (seen.has(m[2])) continue; // its end batch names it again
      seen.add(m[2]);
      latencies.push(now - Number(m[1]));
    }
  }
})();
c0 = cpu();
w0 = performance.now();
await generate(source);
const dashCpu = cpu() - c0, dashWall = performance.now() - w0;
await reader.cancel();
await reading.catch(() => {});
await dashboard.close();

latencies.sort((a, b) => a - b);
const dashShare = Math.max(0, dashCpu / dashWall - refCpu / refWall) * 100;
emit({
  row: `dashboard CPU, ${NODES} nodes × ${JOBS_PER_NODE.toLocaleString("en")} jobs in ${SECONDS} s`,
  value: Number(dashShare.toFixed(2)),
  unit: "% of a core",
  target: "≤ 10",
  reference_pct: Number((refCpu / refWall * 100).toFixed(2)),
  with_dashboard_pct: Number((dashCpu / dashWall * 100).toFixed(2)),
  pushes_per_s: Number((pushes / (dashWall / 1000)).toFixed(1)),
  kib_per_s: Number((bytes / 1024 / (dashWall / 1000)).toFixed(0)),
});
emit({
  row: "change to viewer latency, worst",
  value: latencies.length > 0 ? latencies[latencies.length - 1] : -1,
  unit: "ms",
  target: "≤ 500",
  median_ms: latencies.length > 0 ? latencies[latencies.length >> 1] : -1,
  probes: latencies.length,
});
