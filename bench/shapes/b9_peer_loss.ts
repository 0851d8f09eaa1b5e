/**
 * B9: peer loss. Time from SIGKILL of a peer to the `"unreachable"`
 * `MonitorStatus` of a task watching one of its tasks, default settings
 * (heartbeatInterval 500 ms, peerTimeout 2,500 ms).
 *
 * @module
 */
import { MonitorStatus, type RemoteTask, Scheduler, type Task } from "../../mod.ts";
import { startChild } from "./_peer_process.ts";

const child = await startChild();
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "bench", discover: false });
await scheduler.peer({ hostname: "127.0.0.1", port: child.port });
const sink = (await scheduler.locate("sink", { timeout: 10_000 })) as unknown as RemoteTask;
const seconds = await scheduler.spawn(async (task) => {
  task.monitor(sink as unknown as Task);
  await task.sleep(600); // an idle link: only heartbeats flow
  const t0 = performance.now();
  child.child.kill("SIGKILL");
  for (;;) {
    const m = await task.receive();
    if (m instanceof MonitorStatus && m.type === "unreachable") break;
  }
  return (performance.now() - t0) / 1000;
}).finish();
await child[Symbol.asyncDispose]();
await scheduler.finish();
console.log(JSON.stringify({
  id: "B9",
  row: "SIGKILL to 'unreachable', defaults",
  value: seconds,
  unit: "s",
  pycos: "—",
  target: "≤ 3 s",
}));
