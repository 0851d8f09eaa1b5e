/**
 * Runs each core example as its own program, with no permission flags, so
 * the examples keep working and keep needing no permissions.
 */
import assert from "node:assert/strict";
import { headerFlags, runExample } from "./_run.ts";

/** Runs a core example; its `Run:` line must give no permission flag. */
async function run(name: string): Promise<string[]> {
  assert.deepEqual(await headerFlags(name), [], `examples/${name} asks for permissions`);
  return await runExample(name);
}

function matching(lines: string[], re: RegExp): RegExpMatchArray[] {
  return lines.map((l) => l.match(re)).filter((m): m is RegExpMatchArray => m !== null);
}

Deno.test("examples/tasks.ts: ten tasks sleep and end", async () => {
  const lines = await run("tasks.ts");
  const sleeping = matching(lines, /: task (\d) sleeping for \d+ ms$/);
  const ending = matching(lines, /: task (\d) terminating$/);
  const all = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  assert.deepEqual(sleeping.map((m) => m[1]), all);
  assert.deepEqual(ending.map((m) => m[1]).sort(), all);
  assert.match(lines.at(-1)!, /all tasks done$/);
});

Deno.test("examples/client_server.ts: the daemon server gets all 30 messages", async () => {
  const lines = await run("client_server.ts");
  const processed = matching(lines, /^processing (\d+): (\d) \/ (\d)$/);
  assert.equal(processed.length, 30, lines.join("\n"));
  // msgId counts up without gaps: no lost or duplicated message.
  assert.deepEqual(processed.map((m) => Number(m[1])), Array.from({ length: 30 }, (_, i) => i + 1));
  // Each client sent x = 0, 1, 2 in order (FIFO per sender).
  for (let n = 0; n < 10; n++) {
    const xs = processed.filter((m) => m[2] === String(n)).map((m) => m[3]);
    assert.deepEqual(xs, ["0", "1", "2"], `client ${n}`);
  }
  assert.equal(lines.at(-1), "30 messages sent");
});

Deno.test("examples/channel.ts: both subscribers see every number", async () => {
  const lines = await run("channel.ts");
  const sent = matching(lines, /^sent (\d+\.\d+)$/).map((m) => Number(m[1]));
  assert.equal(sent.length, 4);
  const sum = Number(matching(lines, /^sum: (\d+\.\d+)$/)[0]?.[1]);
  const prod = Number(matching(lines, /^prod: (\d+\.\d+)$/)[0]?.[1]);
  // The printed numbers are rounded to 6 decimals.
  assert.ok(Math.abs(sum - sent.reduce((a, b) => a + b, 0)) < 1e-4, `sum ${sum} of ${sent}`);
  const expected = sent.reduce((a, b) => a * b, 1);
  assert.ok(Math.abs(prod - expected) < 1e-3 * Math.max(1, expected), `prod ${prod} of ${sent}`);
});

Deno.test("examples/hotswap.ts: the swap keeps the mailbox; a swallowed swap is refused", async () => {
  const lines = await run("hotswap.ts");
  const expected = [
    "serverProc received: 1",
    "serverProc received: 2",
    "serverProc received: 3",
    "new function: serverProc2(sqrt)",
    "  * serverProc2 received: 4, sqrt=2.00",
    "  * serverProc2 received: 5, sqrt=2.24",
    "  * serverProc2 received: 6, sqrt=2.45",
    "  * serverProc2 received: 7, sqrt=2.65",
    "ignoring hot swap to intruder",
    "  * serverProc2 received: 8, sqrt=2.83",
    "server ended as 'serverProc2': terminated",
  ];
  // The server's own lines come in this order; the client's verdicts interleave.
  assert.deepEqual(lines.filter((l) => !l.startsWith("swap to ")), expected);
  assert.ok(lines.includes("swap to serverProc2 accepted: true"), lines.join("\n"));
  assert.ok(lines.includes("swap to intruder accepted: false"), lines.join("\n"));
  assert.ok(!lines.includes("this never runs"));
});

Deno.test("examples/demo.ts: runs every example under a heading, then two processes", async () => {
  // The demo starts the remote pair as child processes: that alone it may do.
  assert.deepEqual(await headerFlags("demo.ts"), ["--allow-run"]);
  const lines = await runExample("demo.ts");
  for (const name of ["tasks.ts", "client_server.ts", "channel.ts", "hotswap.ts"]) {
    assert.equal(lines.filter((l) => l.startsWith(`=== examples/${name}:`)).length, 1, name);
  }
  assert.ok(lines.includes("30 messages sent"));
  assert.ok(lines.includes("swap to intruder accepted: false"));
  assert.ok(lines.some((l) => l.startsWith("prod: ")));
  assert.equal(lines.filter((l) => l.startsWith("[remote_server] processing ")).length, 30);
  assert.ok(lines.includes("[remote_client] sent 30 messages"));
});
