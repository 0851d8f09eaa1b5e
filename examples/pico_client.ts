/**
 * Pico client: pycos's `rps_pico_client.py`.
 *
 * Locates the service `pico` (on `examples/pico_service.ts`), runs it five
 * times at once (each run is a new task on the server) and prints each
 * result as `finish` brings it back.
 *
 * Arguments: `[port]` of the server (default 9705) and `[requests]` (default 5).
 *
 * Run: `npx deno run --allow-net=127.0.0.1 examples/pico_client.ts 9705 5`
 *
 * @module
 */
import { Scheduler, Service } from "../mod.ts";

const port = Number(Deno.args[0] ?? 9705);
const requests = Number(Deno.args[1] ?? 5);
const scheduler = Scheduler.default();
await scheduler.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
await scheduler.peer({ hostname: "127.0.0.1", port });

const pico = await Service.locate("pico", { timeout: 5000 });
if (pico === undefined) throw new Error("no service 'pico' found");
const jobs = [];
for (let n = 1; n <= requests; n++) jobs.push(pico.run(n, 10 + Math.random() * 100));
for (const [i, job] of (await Promise.all(jobs)).entries()) {
  console.log(`pico(${i + 1}) = ${await job.finish()} from ${job}`);
}
await scheduler.finish();
