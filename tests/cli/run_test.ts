/**
 * `denocos run` against `denocos node` processes, directly and through
 * `denocos scheduler`; `denocos status` shows the nodes and their jobs.
 */
import assert from "node:assert/strict";
import { cli, CliProcess } from "./_cli.ts";
import type { ClusterSnapshot } from "../../src/compute/mod.ts";

const JOBS = "tests/cli/fixtures/cli_jobs.ts";

async function withInputs<T>(lines: string[], fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "denocos-cli-" });
  try {
    const file = `${dir}/inputs.jsonl`;
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    return await fn(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli run: one job per input line, results as JSON lines in input order", async () => {
  await using node = await CliProcess.start(["node", "--port", "0", "--cpus", "2"]);
  await withInputs(["[1, 2]", "5", "", "[3, 4, 5]", "[]"], async (inputs) => {
    const r = await cli(["run", JOBS, "add", "--node", node.address, "--inputs", inputs, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l)), [
      { input: [1, 2], ok: true, value: 3 },
      { input: 5, ok: true, value: 5 },
      { input: [3, 4, 5], ok: true, value: 12 },
      { input: [], ok: true, value: 0 },
    ]);
  });
  await withInputs(["1", "-2", "3"], async (inputs) => {
    const json = await cli([
      "run",
      JOBS,
      "check",
      "--node",
      node.address,
      "--inputs",
      inputs,
      "--json",
    ]);
    assert.equal(json.code, 1, json.stderr);
    assert.deepEqual(json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l)), [
      { input: 1, ok: true, value: 1 },
      { input: -2, ok: false, error: "negative: -2" },
      { input: 3, ok: true, value: 3 },
    ]);
    const plain = await cli(["run", JOBS, "check", "--node", node.address, "--inputs", inputs]);
    assert.equal(plain.code, 1);
    assert.equal(plain.stdout, "1\n3\n");
    assert.match(plain.stderr, /^error: input 2 -2: negative: -2$/m);
  });
  await withInputs(["[1,", "2"], async (inputs) => {
    const bad = await cli(["run", JOBS, "add", "--node", node.address, "--inputs", inputs]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^denocos: --inputs: .*inputs\.jsonl:1: not JSON/);
  });
  const { status } = await node.stop();
  assert.equal(status.code, 0);
});

async function snapshot(scheduler: CliProcess): Promise<ClusterSnapshot> {
  const r = await cli(["status", "--scheduler", scheduler.address, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Asks for status until `ok` holds (the scheduler polls its nodes once a second). */
async function until(
  scheduler: CliProcess,
  ok: (s: ClusterSnapshot) => boolean,
): Promise<ClusterSnapshot> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await snapshot(scheduler);
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never matched: ${JSON.stringify(s)}`);
  }
}

Deno.test("cli scheduler: nodes join it, status shows them, run goes through it", async () => {
  await using a = await CliProcess.start(["node", "--port", "0", "--cpus", "1", "--name", "a"]);
  await using scheduler = await CliProcess.start([
    "scheduler",
    "--port",
    "0",
    "--node",
    a.address,
  ]);
  assert.match(scheduler.line, /^scheduler \S+ listening on 127\.0\.0\.1:\d+$/);
  await using b = await CliProcess.start([
    "node",
    "--port",
    "0",
    "--cpus",
    "2",
    "--name",
    "b",
    "--scheduler",
    scheduler.address,
  ]);
  const both = await until(scheduler, (s) => s.nodes.filter((n) => n.online).length === 2);
  const byName = Object.fromEntries(both.nodes.map((n) => [n.name, n]));
  assert.equal(byName.a.cpus, 1);
  assert.equal(byName.b.cpus, 2);
  assert.equal(byName.b.location.port, b.port);

  await withInputs(["1", "2", "3", "4", "5", "6"], async (inputs) => {
    const r = await cli(["run", JOBS, "add", "--scheduler", scheduler.address, "--inputs", inputs]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "1\n2\n3\n4\n5\n6\n");
  });
  const after = await until(
    scheduler,
    (s) => s.nodes.reduce((n, x) => n + x.jobsDone, 0) === 6,
  );
  assert.ok(after.nodes.every((n) => n.jobsRunning === 0));

  const table = await cli(["status", "--scheduler", scheduler.address]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(
    table.stdout,
    /^NODE\s+ADDRESS\s+STATE\s+SERVERS\s+CPU\s+MEM FREE\s+LOAD\s+RUNNING\s+DONE$/m,
  );
  assert.match(table.stdout, new RegExp(`^a\\s+${a.address}\\s+online\\s+0/1`, "m"));

  assert.equal((await b.stop()).status.code, 0);
  await until(scheduler, (s) => s.nodes.find((n) => n.name === "b")?.online === false);
  assert.equal((await scheduler.stop()).status.code, 0);
  assert.equal((await a.stop()).status.code, 0);
});

Deno.test("cli scheduler --dashboard: the cluster's nodes show on its dashboard", async () => {
  await using node = await CliProcess.start(["node", "--port", "0", "--cpus", "1", "--name", "n1"]);
  await using scheduler = await CliProcess.start([
    "scheduler",
    "--port",
    "0",
    "--node",
    node.address,
    "--dashboard",
    "0",
  ]);
  const [, port] = await scheduler.waitFor(/^dashboard on http:\/\/127\.0\.0\.1:(\d+)\//m);
  // The event stream: a snapshot first, then batches; wait for the node
  // there, for at most 60 s (a deadline that only fails the test).
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new Error("no node n1 on the stream in 60 s")),
    60_000,
  );
  const res = await fetch(`http://127.0.0.1:${port}/api/events`, { signal: deadline.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  try {
    while (!/"name":"n1"/.test(seen)) {
      const { value, done } = await reader.read();
      assert.ok(!done, `stream ended: ${seen}`);
      seen += value;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
  const page = await fetch(`http://127.0.0.1:${port}/`);
  assert.match(await page.text(), /<html/i);
});
