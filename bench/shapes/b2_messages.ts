/**
 * B2 (BENCHMARKS.md): one producer sends 0..N-1 (N = 1,000,000) to one
 * consumer that receives until N-1. "interleaved": the producer yields
 * (`await task.sleep(0)`) after each send; "burst": it does not.
 *
 * Run: `deno run bench/shapes/b2_messages.ts [N]`
 *
 * @module
 */
import { spawn, type Task } from "../../mod.ts";

const N = Number(Deno.args[0] ?? 1_000_000);

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B2", ...row }));
}

/** One run: seconds from the producer's start to the consumer's last receive. */
async function run(interleaved: boolean): Promise<number> {
  const consumer = spawn(async (task: Task<number>) => {
    for (let expected = 0;; expected++) {
      const m = await task.receive<number>();
      if (m !== expected) throw new Error(`B2: got ${m}, expected ${expected}`);
      if (m === N - 1) return performance.now();
    }
  });
  const t0 = performance.now();
  const producer = spawn(async (task: Task) => {
    if (interleaved) {
      for (let i = 0; i < N; i++) {
        consumer.send(i);
        await task.sleep(0);
      }
    } else {
      for (let i = 0; i < N; i++) consumer.send(i);
    }
  });
  const t1 = await consumer.finish();
  await producer.finish();
  return (t1 - t0) / 1000;
}

const gc = (globalThis as { gc?: () => void }).gc;
for (const [mode, pycos] of [["interleaved", "183k"], ["burst", "235k"]] as const) {
  gc?.();
  const seconds = await run(mode === "interleaved");
  const rate = N / seconds;
  emit({
    row: mode,
    value: rate,
    unit: "msgs/s",
    pycos,
    target: "≥ 4.5M",
    n: N,
    seconds,
    ratio: rate / (mode === "interleaved" ? 183e3 : 235e3),
  });
}
