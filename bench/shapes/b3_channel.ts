/**
 * B3 (BENCHMARKS.md): 10 subscribers on one channel, 1 sender, N = 100,000
 * messages; deliveries/s = N × 10 / time, from the first send to the last
 * subscriber's last receive. Once with `channel.send(msg)` (no pause between
 * sends), once with `await channel.deliver(msg)` per message.
 *
 * Run: `deno run bench/shapes/b3_channel.ts [N]`
 *
 * @module
 */
import { Channel, spawn, type Task } from "../../mod.ts";

const N = Number(Deno.args[0] ?? 100_000);
const SUBSCRIBERS = 10;

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B3", ...row }));
}

async function subscriber(task: Task): Promise<number> {
  for (let expected = 0;; expected++) {
    const m = await task.receive<number>();
    if (m !== expected) throw new Error(`B3: got ${m}, expected ${expected}`);
    if (m === N - 1) return performance.now();
  }
}

/** One run: seconds from the first send to the last subscriber's last receive. */
async function run(useDeliver: boolean): Promise<number> {
  const channel = new Channel(useDeliver ? "b3-deliver" : "b3-send");
  const subs: Task<number>[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const t = spawn(subscriber);
    subs.push(t);
    await channel.subscribe(t);
  }
  const t0 = performance.now();
  const sender = spawn(async () => {
    if (useDeliver) {
      for (let i = 0; i < N; i++) {
        const reached = await channel.deliver(i);
        if (reached !== SUBSCRIBERS) throw new Error(`B3: deliver reached ${reached}`);
      }
    } else {
      for (let i = 0; i < N; i++) channel.send(i);
    }
  });
  let last = 0;
  for (const t of subs) last = Math.max(last, await t.finish());
  await sender.finish();
  channel.close();
  return (last - t0) / 1000;
}

const gc = (globalThis as { gc?: () => void }).gc;
for (const [row, pycos, target] of [["send", "300k", "≥ 4.5M"], ["deliver", "207k", "≥ 1M"]]) {
  gc?.();
  const seconds = await run(row === "deliver");
  const rate = (N * SUBSCRIBERS) / seconds;
  emit({
    row,
    value: rate,
    unit: "deliveries/s",
    pycos,
    target,
    n: N,
    subscribers: SUBSCRIBERS,
    seconds,
    ratio: rate / (row === "send" ? 300e3 : 207e3),
  });
}
