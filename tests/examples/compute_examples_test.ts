/**
 * Runs the compute examples as programs, each with exactly the flags of its
 * `Run:` line, against a real compute node process (2 servers) started here.
 */
import assert from "node:assert/strict";
import { start } from "./_run.ts";
import { NodeProcess } from "../compute/_node.ts";

async function runAgainstNode(name: string): Promise<string[]> {
  await using node = await NodeProcess.start(2, "");
  await using program = await start(name, [`127.0.0.1:${node.port}`]);
  return await program.done();
}

Deno.test("examples/compute_basic.ts: five jobs run and finish", async () => {
  const lines = await runAgainstNode("compute_basic.ts");
  const results = lines.map((l) => Number(l.match(/^job \d+ on \d+: (\d+)$/)![1]));
  assert.deepEqual(results, [20, 40, 60, 80, 100]);
});

Deno.test("examples/discoro.ts: the status task drives ten jobs", async () => {
  const lines = await runAgainstNode("discoro.ts");
  assert.equal(lines.filter((l) => / finished with \d+$/.test(l)).length, 10, lines.join("\n"));
  assert.equal(lines.at(-1), "10 jobs done");
});

Deno.test("examples/compute_messages.ts: jobs and client exchange objects", async () => {
  const lines = await runAgainstNode("compute_messages.ts");
  const squares = lines.filter((l) => l.includes(" squared is ")).map((l) =>
    l.match(/^(\d) squared is (\d+)/)!
  );
  assert.deepEqual(squares.map((m) => Number(m[2])).sort((a, b) => a - b), [1, 4, 9, 16, 25, 36]);
  assert.deepEqual(lines.filter((l) => / saw \d items$/.test(l)).map((l) => l.split(" saw ")[1]), [
    "3 items",
    "3 items",
  ]);
});

Deno.test("examples/compute_server_setup.ts: jobs read the table each server built once", async () => {
  const lines = await runAgainstNode("compute_server_setup.ts");
  assert.deepEqual(lines, [
    "2 servers loaded the table",
    "table[3] = 9",
    "table[10] = 100",
    "table[999] = 998001",
  ]);
});

Deno.test("examples/compute_custom_scheduler.ts: one job at a time per server, twelve in all", async () => {
  const lines = await runAgainstNode("compute_custom_scheduler.ts");
  const per = lines.filter((l) => l.startsWith("server ")).map((l) =>
    Number(l.match(/: (\d+) jobs$/)![1])
  );
  assert.equal(per.reduce((a, b) => a + b, 0), 12);
  assert.equal(lines.at(-1), "12 jobs done, one at a time per server");
});

Deno.test("examples/dashboard.ts: jobs run while the dashboard serves them", async () => {
  await using node = await NodeProcess.start(2, "");
  await using program = await start("dashboard.ts", [`127.0.0.1:${node.port}`, "4", "600", "0"]);
  const [, url] = await program.waitFor(/^dashboard on (http:\/\/127\.0\.0\.1:\d+\/)$/);
  const page = await fetch(url);
  assert.match(await page.text(), /denocos dashboard/);
  const lines = await program.done();
  assert.equal(lines.filter((l) => /^job \d+ finished$/.test(l)).length, 4, lines.join("\n"));
  assert.equal(lines.at(-1), "4 of 4 jobs finished");
});
