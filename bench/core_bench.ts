/**
 * Micro-benchmarks of the core's hot paths, for `deno bench`. Each iteration
 * moves a batch (the batch size is in the name) so per-iteration overhead
 * does not swamp the operation; divide by the batch size for the cost of one.
 *
 * Run: `deno bench bench/core_bench.ts`
 *
 * @module
 */
import { Channel, Event, Lock, Scheduler, type Task } from "../mod.ts";

const BATCH = 1_000;
const SUBSCRIBERS = 10;

/** Receives `count` messages, then ends. */
async function drain(task: Task, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await task.receive();
}

Deno.bench({
  name: `send + receive, ${BATCH} messages (burst)`,
  group: "messages",
  baseline: true,
  async fn(): Promise<void> {
    const s = new Scheduler();
    const consumer = s.spawn(drain, BATCH);
    for (let i = 0; i < BATCH; i++) consumer.send(i);
    await consumer.finish();
  },
});

Deno.bench({
  name: `send + receive, ${BATCH} messages (interleaved: sleep(0) after each send)`,
  group: "messages",
  async fn(): Promise<void> {
    const s = new Scheduler();
    const consumer = s.spawn(drain, BATCH);
    await s.spawn(async (task: Task) => {
      for (let i = 0; i < BATCH; i++) {
        consumer.send(i);
        await task.sleep(0);
      }
    }).finish();
    await consumer.finish();
  },
});

Deno.bench({
  name: `deliver + receive, ${BATCH} messages`,
  group: "messages",
  async fn(): Promise<void> {
    const s = new Scheduler();
    const consumer = s.spawn(drain, BATCH);
    for (let i = 0; i < BATCH; i++) await consumer.deliver(i);
    await consumer.finish();
  },
});

Deno.bench({
  name: `spawn + join, ${BATCH} tasks`,
  group: "tasks",
  baseline: true,
  async fn(): Promise<void> {
    const s = new Scheduler();
    for (let i = 0; i < BATCH; i++) s.spawn(() => i);
    await s.join();
  },
});

Deno.bench({
  name: `spawn + sleep + resume, ${BATCH} tasks`,
  group: "tasks",
  async fn(): Promise<void> {
    const s = new Scheduler();
    const tasks: Task[] = [];
    for (let i = 0; i < BATCH; i++) tasks.push(s.spawn((task: Task) => task.sleep()));
    // Let every task reach its sleep before waking it (resume is lossy).
    await s.spawn((task: Task) => task.sleep(0)).finish();
    for (const t of tasks) {
      if (!t.resume(1)) throw new Error(`${t} was not asleep yet`);
    }
    await s.join();
  },
});

Deno.bench({
  name: `channel send, ${SUBSCRIBERS} subscribers × ${BATCH} messages`,
  group: "channel",
  baseline: true,
  async fn(): Promise<void> {
    const s = new Scheduler();
    const ch = new Channel("fan-out", { scheduler: s });
    for (let i = 0; i < SUBSCRIBERS; i++) await ch.subscribe(s.spawn(drain, BATCH));
    for (let i = 0; i < BATCH; i++) ch.send(i);
    await s.join();
  },
});

Deno.bench({
  name: `channel deliver, ${SUBSCRIBERS} subscribers × ${BATCH} messages`,
  group: "channel",
  async fn(): Promise<void> {
    const s = new Scheduler();
    const ch = new Channel("fan-out", { scheduler: s });
    for (let i = 0; i < SUBSCRIBERS; i++) await ch.subscribe(s.spawn(drain, BATCH));
    for (let i = 0; i < BATCH; i++) await ch.deliver(i);
    await s.join();
  },
});

Deno.bench({
  name: `Lock acquire + release, ${BATCH} times uncontended`,
  group: "sync",
  baseline: true,
  async fn(): Promise<void> {
    const lock = new Lock();
    for (let i = 0; i < BATCH; i++) {
      await lock.acquire();
      lock.release();
    }
  },
});

Deno.bench({
  name: `Event set wakes ${BATCH} waiting tasks`,
  group: "sync",
  async fn(): Promise<void> {
    const s = new Scheduler();
    const ev = new Event();
    for (let i = 0; i < BATCH; i++) s.spawn(() => ev.wait());
    await s.spawn((task: Task) => task.sleep(0)).finish();
    ev.set();
    await s.join();
  },
});
