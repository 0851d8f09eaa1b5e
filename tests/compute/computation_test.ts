/**
 * A `Computation` against real `ComputeNode` servers (server processes with
 * sandboxed Workers): jobs that return, throw, hang (terminated), talk by
 * messages, try a permission they did not declare; status messages.
 */
import assert from "node:assert/strict";
import { MonitorStatus, Scheduler, type Task, TaskTerminated } from "../../mod.ts";
import {
  Computation,
  type ComputationOptions,
  ComputeNode,
  StatusMessage,
} from "../../src/compute/mod.ts";
import type { RemoteTask } from "../../src/net/mod.ts";

const JOBS = new URL("./fixtures/comp_jobs.ts", import.meta.url);

async function cluster(cpus = 2) {
  const node = await ComputeNode.start({ hostname: "127.0.0.1", port: 0, cpus, secret: "s3cret" });
  const client = new Scheduler();
  await client.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret" });
  const comps: Computation[] = [];
  return {
    node,
    client,
    /** A scheduled computation of `JOBS` on the node, closed with the cluster. */
    async computation(options?: Partial<ComputationOptions>): Promise<Computation> {
      const comp = new Computation({
        module: JOBS,
        scheduler: client,
        nodes: [node.location],
        ...options,
      });
      comps.push(comp);
      await comp.schedule({ timeout: 30_000 });
      return comp;
    },
    async [Symbol.asyncDispose]() {
      for (const comp of comps) await comp.close();
      await client.finish();
      await node.close();
    },
  };
}

Deno.test("compute: jobs return, throw and are terminated; status messages tell", async () => {
  await using c = await cluster();
  const seen: unknown[] = [];
  const status = c.client.spawn(async function status(task: Task) {
    task.setDaemon();
    for (;;) seen.push(await task.receive());
  });
  const comp = await c.computation({
    status,
  });
  assert.equal(comp.servers().length, 2);
  const jobs = await Promise.all([1, 2, 3, 4].map((n) => comp.run("double", n)));
  assert.deepEqual(await Promise.all(jobs.map((j) => j.finish({ timeout: 30_000 }))), [2, 4, 6, 8]);
  const bad = await comp.run("fail", "no luck");
  await assert.rejects(
    bad.finish({ timeout: 30_000 }),
    (e: unknown) => e instanceof RangeError && e.message === "no luck",
  );
  const stuck = await comp.run("hang");
  stuck.terminate();
  await assert.rejects(stuck.finish({ timeout: 30_000 }), TaskTerminated);
  const types = seen.filter((m): m is StatusMessage => m instanceof StatusMessage).map((m) =>
    m.type
  );
  for (const t of ["NodeDiscovered", "NodeInitialized", "ServerInitialized", "TaskStarted"]) {
    assert.ok(types.includes(t as StatusMessage["type"]), `${t} in ${types}`);
  }
  assert.ok(seen.some((m) => m instanceof MonitorStatus));
});

Deno.test("compute: a job and its client exchange messages", async () => {
  await using c = await cluster(1);
  const comp = await c.computation();
  const talker = c.client.spawn(async (task: Task) => {
    const job = await comp.run("chat", task);
    const { hello } = await task.receive({ timeout: 30_000 }) as { hello: RemoteTask };
    assert.equal(hello.id, job.id);
    const answers = [];
    for (const n of [1, 2, 3]) {
      job.send(n);
      answers.push(await task.receive({ timeout: 30_000 }));
    }
    job.send(0);
    return [answers, await job.finish({ timeout: 30_000 })];
  });
  assert.deepEqual(await talker.finish(), [[2, 4, 6], "bye"]);
});

Deno.test("compute: a job without read permission is denied; the node serves the next job", async () => {
  await using c = await cluster(1);
  const comp = await c.computation();
  const job = await comp.run("readFile", "/etc/hostname");
  await assert.rejects(job.finish({ timeout: 30_000 }), Deno.errors.NotCapable);
  assert.equal(await (await comp.run("double", 21)).finish({ timeout: 30_000 }), 42);
});

Deno.test("compute: a suspended server takes no new job until resumed", async () => {
  await using c = await cluster(2);
  const comp = await c.computation();
  const [first, second] = comp.servers().map((s) => s.id);
  assert.equal(comp.suspend(first), 1);
  for (let i = 0; i < 4; i++) {
    const job = await comp.run("double", i);
    await job.finish({ timeout: 30_000 });
  }
  assert.deepEqual(comp.servers().map((s) => s.busy), [0, 0]);
  assert.equal(comp.suspend(c.node.location), 1); // the other one; the first is already
  await assert.rejects(comp.run("double", 1), /suspended/);
  assert.equal(comp.resume(`${c.node.location.hostname}:${c.node.location.port}`), 2);
  assert.equal(await (await comp.runAt(second, "double", 21)).finish({ timeout: 30_000 }), 42);
});

Deno.test("compute: a self-contained function runs as a job (by its source)", async () => {
  await using c = await cluster(1);
  const comp = await c.computation();
  const job = await comp.run(
    async (task: Task, a: number, b: number) => {
      await task.sleep(1);
      return a * b;
    },
    6,
    7,
  );
  assert.equal(await job.finish({ timeout: 30_000 }), 42);
  // Not self-contained: it fails there, with the reason.
  const outside = 5;
  const bad = await comp.run(() => outside);
  await assert.rejects(bad.finish({ timeout: 30_000 }), ReferenceError);
});

Deno.test("compute: nodeSetup runs once per node; its result reaches each server's setup", async () => {
  await using c = await cluster(2);
  const comp = await c.computation({
    nodeSetup: "nodeSetup",
    serverSetup: "serverSetup",
    setupArgs: [7],
  });
  const [a, b] = comp.servers().map((s) => s.id);
  const sa = await (await comp.runAt(a, "setupOf")).finish({ timeout: 30_000 }) as {
    fromNode: { base: number; pid: number };
    server: number;
  };
  const sb = await (await comp.runAt(b, "setupOf")).finish({ timeout: 30_000 }) as typeof sa;
  assert.equal(sa.fromNode.base, 7);
  assert.deepEqual(sa.fromNode, sb.fromNode); // one run for the node
  assert.notEqual(sa.server, sb.server); // a setup per server
  assert.notEqual(sa.fromNode.pid, sa.server); // in a sandbox of its own
  const plain = await c.computation({
    nodeSetup: "nodeSetup",
    setupArgs: [3],
  });
  const got = await (await plain.run("setupOf")).finish({ timeout: 30_000 }) as { base: number };
  assert.equal(got.base, 3); // no serverSetup: jobs see the node's result
});

Deno.test("compute: a status listener added late first hears the nodes, servers and running jobs so far", async () => {
  await using c = await cluster(2);
  const comp = await c.computation();
  const hang = await comp.run("hang");
  const heard: StatusMessage[] = [];
  const remove = comp.addStatusListener((m) => {
    if (m instanceof StatusMessage) heard.push(m);
  });
  remove();
  assert.deepEqual(heard.map((m) => [m.type, m.server]), [
    ["NodeDiscovered", undefined],
    ["NodeInitialized", undefined],
    ["ServerInitialized", "0"],
    ["ServerInitialized", "1"],
    ["TaskStarted", heard[4]?.server],
  ]);
  assert.equal((heard[4].task as RemoteTask).key, hang.key);
  assert.deepEqual(heard[4].info, { name: "hang", args: [], attempt: 1 });
  await hang.terminate();
});

Deno.test("compute: a client that leaves (GOODBYE) or is killed (SIGKILL) leaves nothing running on the node", async () => {
  const closed: [string, string][] = [];
  let wake = () => {};
  const node = await ComputeNode.start({
    hostname: "127.0.0.1",
    port: 0,
    cpus: 1,
    secret: "s3cret",
    onComputationClosed: (id, reason) => {
      closed.push([id, reason]);
      wake();
    },
  });
  const next = () => new Promise<void>((r) => wake = r);
  try {
    // An in-process client that finishes without closing its computation.
    const client = new Scheduler();
    await client.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret", discover: false });
    const comp = new Computation({ module: JOBS, scheduler: client, nodes: [node.location] });
    await comp.schedule({ timeout: 30_000 });
    await comp.run("hang");
    assert.equal(node.computations, 1);
    const gone = next();
    await client.finish();
    await gone;
    assert.deepEqual(closed, [[comp.id, "client gone"]]);
    assert.equal(node.computations, 0);
    assert.equal(node.jobs, 0);

    // A client process killed mid-job: gone once its peer is declared lost.
    const { Child } = await import("../_child.ts");
    await using child = await Child.start(
      new URL("./fixtures/comp_client.ts", import.meta.url),
      ["--allow-net=127.0.0.1", "--allow-read", "--allow-env"],
      [String(node.location.port)],
      /^scheduled$/m,
    );
    assert.equal(node.computations, 1);
    const killed = next();
    child.kill();
    await killed;
    assert.equal(closed[1][1], "client gone");
    assert.equal(node.computations, 0);
  } finally {
    await node.close();
  }
});
