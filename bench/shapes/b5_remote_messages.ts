/**
 * B5: two processes on 127.0.0.1. A client locates a registered task on the
 * other peer and sends it N = 200,000 small messages; the receiver answers
 * when it has them all. Then `deliver` one at a time (N = 10,000), next to
 * a bare `Deno.Conn` 64-byte ping-pong between the same two processes in
 * the same run.
 *
 * @module
 */
import { type RemoteTask, Scheduler } from "../../mod.ts";
import { startChild } from "./_peer_process.ts";

const SENDS = 200_000;
const DELIVERS = 10_000;

function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B5", ...row }));
}

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[s.length >> 1];
}

await using child = await startChild();
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "bench", discover: false });
await scheduler.peer({ hostname: "127.0.0.1", port: child.port });
const sink = (await scheduler.locate("sink", { timeout: 10_000 })) as unknown as RemoteTask;

// send: everything queued, then wait for the receiver's count.
const sendRate = await scheduler.spawn(async (task) => {
  const warm = 10_000;
  for (let i = 0; i < warm; i++) sink.send(i);
  sink.send({ report: task, n: warm });
  await task.receive();
  const t0 = performance.now();
  for (let i = 0; i < SENDS; i++) {
    sink.send(i);
    if ((i & 4095) === 4095) await task.sleep(0); // let the writer run, as a real sender would
  }
  sink.send({ report: task, n: SENDS });
  await task.receive();
  return SENDS / ((performance.now() - t0) / 1000);
}).finish();

// deliver, one at a time.
const deliverSamples: number[] = [];
const t1 = performance.now();
for (let i = 0; i < DELIVERS; i++) {
  const s = performance.now();
  await sink.deliver(i);
  deliverSamples.push(performance.now() - s);
}
const deliverRate = DELIVERS / ((performance.now() - t1) / 1000);

// Bare Deno.Conn ping-pong to the same process.
const conn = await Deno.connect({ hostname: "127.0.0.1", port: child.barePort });
conn.setNoDelay(true);
const buf = new Uint8Array(64);
const bareSamples: number[] = [];
const t2 = performance.now();
for (let i = 0; i < DELIVERS; i++) {
  const s = performance.now();
  await conn.write(buf);
  let got = 0;
  while (got < 64) got += (await conn.read(buf.subarray(got)))!;
  bareSamples.push(performance.now() - s);
}
const bareRate = DELIVERS / ((performance.now() - t2) / 1000);
conn.close();
await scheduler.finish();

const deliverP50 = p50(deliverSamples) * 1000, bareP50 = p50(bareSamples) * 1000;
emit({
  row: "send, 2 processes",
  value: sendRate,
  unit: "msgs/s",
  pycos: "1.8k",
  target: "≥ 1M",
  messages: SENDS,
});
emit({
  row: "sequential deliver",
  value: deliverRate,
  unit: "msgs/s",
  pycos: "983",
  target: "≥ 0.5× bare rate; p50 ≤ 2× bare p50",
  met: deliverRate >= 0.5 * bareRate && deliverP50 <= 2 * bareP50,
  ratio: deliverRate / bareRate,
  p50_us: deliverP50,
});
emit({
  row: "bare Deno.Conn ping-pong",
  value: bareRate,
  unit: "rt/s",
  pycos: "—",
  target: "reference",
  p50_us: bareP50,
});
