/**
 * Compute faults against real node processes: a node killed with SIGKILL
 * mid-job (reported, resubmitted elsewhere, never more than maxAttempts),
 * two computations sharing one node, code shipped once per content, a
 * wrong secret, a malformed job request.
 */
import assert from "node:assert/strict";
import { AuthenticationFailed, MonitorStatus, Scheduler, Service, type Task } from "../../mod.ts";
import { Computation, ServerFailed, StatusMessage } from "../../src/compute/mod.ts";
import { NODE_SERVICES } from "../../src/compute/node.ts";
import { NodeProcess } from "./_node.ts";

const JOBS = new URL("./fixtures/comp_jobs.ts", import.meta.url);

async function client(secret = "s3cret"): Promise<Scheduler> {
  const s = new Scheduler();
  await s.listen({ hostname: "127.0.0.1", port: 0, secret });
  return s;
}

/** A status task that keeps everything it receives and wakes waiters. */
function recorder(s: Scheduler) {
  const seen: unknown[] = [];
  let wake: () => void = () => {};
  const task = s.spawn(async function status(t: Task) {
    t.setDaemon();
    for (;;) {
      seen.push(await t.receive());
      wake();
    }
  });
  return {
    task,
    seen,
    async until<T>(pred: (m: unknown) => m is T): Promise<T> {
      for (let i = 0;; await new Promise<void>((r) => wake = r)) {
        for (; i < seen.length; i++) if (pred(seen[i])) return seen[i] as T;
      }
    },
    /** The first `StatusMessage` of `type` (and matching `where`) seen. */
    status(type: string, where: (m: StatusMessage) => boolean = () => true) {
      return this.until((m): m is StatusMessage =>
        m instanceof StatusMessage && m.type === type && where(m)
      );
    },
    /** Every `StatusMessage` of `type` seen so far. */
    seenOf(type: string): StatusMessage[] {
      return seen.filter((m): m is StatusMessage => m instanceof StatusMessage && m.type === type);
    },
  };
}

Deno.test("compute: a node killed mid-job is abandoned, its job resubmitted on the other node", async () => {
  await using doomed = await NodeProcess.start(1);
  await using other = await NodeProcess.start(1);
  await using s = await client();
  const status = recorder(s);
  await using comp = new Computation({
    module: JOBS,
    scheduler: s,
    status: status.task,
    nodes: [doomed.location, other.location],
    resubmit: true,
    maxAttempts: 2,
    zombiePeriod: 3000,
  });
  await comp.schedule({ timeout: 30_000 });
  const job = await comp.runAt(doomed.location, "slow", 60_000, "done");
  await status.status("TaskStarted");
  const killedAt = performance.now();
  doomed.kill();
  const abandoned = await status.status("TaskAbandoned");
  assert.equal((abandoned.task as { key: string }).key, job.key);
  // Generous: the bound is zombiePeriod (3 s) + one pulse.
  assert.ok(performance.now() - killedAt < 20_000);
  await status.status("NodeAbandoned");
  const [first] = status.seenOf("TaskStarted");
  const second = await status.status(
    "TaskStarted",
    (m) => m !== first && (m.node as { port: number }).port === other.port,
  );
  assert.ok(second);
  assert.deepEqual(comp.nodes(), [other.location]);
});

Deno.test("compute: two computations share one node at once", async () => {
  await using node = await NodeProcess.start(2);
  await using s = await client();
  await using a = new Computation({ module: JOBS, scheduler: s, nodes: [node.location] });
  await using b = new Computation({ module: JOBS, scheduler: s, nodes: [node.location] });
  await Promise.all([a.schedule({ timeout: 30_000 }), b.schedule({ timeout: 30_000 })]);
  const jobs = [await a.run("slow", 50, "a"), await b.run("slow", 50, "b")];
  assert.deepEqual(await Promise.all(jobs.map((j) => j.finish({ timeout: 30_000 }))), ["a", "b"]);
});

Deno.test("compute: code is shipped once per content; a changed module is shipped again", async () => {
  await using node = await NodeProcess.start(1);
  await using s = await client();
  const dir = await Deno.makeTempDir();
  try {
    const mod = `${dir}/job.ts`;
    await Deno.writeTextFile(mod, "export const answer = () => 1;\n");
    const missing = async () => {
      const svc = await Service.locate(NODE_SERVICES.prepare, {
        scheduler: s,
        location: node.location,
        timeout: 10_000,
      });
      const { CodeBundle } = await import("../../src/compute/_code_bundle.ts");
      const bundle = await CodeBundle.create(mod);
      return await (await svc!.run("probe", bundle.manifest)).finish() as string[];
    };
    await s.peer(node.location);
    assert.equal((await missing()).length, 1);
    {
      await using comp = new Computation({ module: mod, scheduler: s, nodes: [node.location] });
      await comp.schedule({ timeout: 30_000 });
      assert.equal(await (await comp.run("answer")).finish(), 1);
    }
    assert.equal((await missing()).length, 0); // unchanged: nothing to send
    await Deno.writeTextFile(mod, "export const answer = () => 2;\n");
    assert.equal((await missing()).length, 1); // changed: sent again
    await using comp = new Computation({ module: mod, scheduler: s, nodes: [node.location] });
    await comp.schedule({ timeout: 30_000 });
    assert.equal(await (await comp.run("answer")).finish(), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compute: a wrong secret is refused; a malformed job request is answered with an error", async () => {
  await using node = await NodeProcess.start(1);
  await using wrong = await client("wrong");
  const comp = new Computation({ module: JOBS, scheduler: wrong, nodes: [node.location] });
  await assert.rejects(comp.schedule({ timeout: 10_000 }), AuthenticationFailed);
  await using s = await client();
  await s.peer(node.location);
  const run = await Service.locate(NODE_SERVICES.run, {
    scheduler: s,
    location: node.location,
    timeout: 10_000,
  });
  for (const args of [[], ["nope", 0, "x", []], [{ evil: true }, "0", 42, "args"]]) {
    const job = await run!.run(...args);
    await assert.rejects(job.finish({ timeout: 10_000 }));
  }
  await using good = new Computation({ module: JOBS, scheduler: s, nodes: [node.location] });
  await good.schedule({ timeout: 30_000 });
  const watcher = s.spawn(async (task: Task) => {
    const job = await good.run("double", 4);
    task.monitor(job as unknown as Task);
    return await task.receive({ timeout: 30_000 });
  });
  const st = await watcher.finish();
  assert.ok(st instanceof MonitorStatus && st.type === "finished" && st.value === 8);
});

Deno.test("compute: with maxAttempts 1 an abandoned job is not started again", async () => {
  await using doomed = await NodeProcess.start(1);
  await using other = await NodeProcess.start(1);
  await using s = await client();
  const status = recorder(s);
  await using comp = new Computation({
    module: JOBS,
    scheduler: s,
    status: status.task,
    nodes: [doomed.location, other.location],
    resubmit: true,
    maxAttempts: 1,
  });
  await comp.schedule({ timeout: 30_000 });
  await comp.runAt(doomed.location, "slow", 60_000, "never");
  doomed.kill();
  await status.status("NodeAbandoned");
  // A job run after the loss goes through the same queue: once it has
  // started, a resubmission (had there been one) would have started first.
  const after = await comp.run("double", 1);
  assert.equal(await after.finish({ timeout: 30_000 }), 2);
  await status.status("TaskStarted", (m) => (m.task as { key: string }).key === after.key);
  assert.equal(status.seenOf("TaskStarted").length, 2); // the first job and `after`, nothing resubmitted
});

Deno.test("compute: a job that allocates without bound kills only its server; the node serves on", async () => {
  await using node = await NodeProcess.start(1, "s3cret", ["--server-memory", "64"]);
  await using s = await client();
  const status = recorder(s);
  await using comp = new Computation({
    module: JOBS,
    scheduler: s,
    status: status.task,
    nodes: [node.location],
  });
  await comp.schedule({ timeout: 30_000 });
  const hog = await comp.run("grow");
  // The node's ServerFailed reaches the client as itself, not a RemoteError.
  await assert.rejects(hog.finish({ timeout: 60_000 }), ServerFailed);
  await status.status("ServerClosed");
  // The node is up and takes a new computation.
  await using next = new Computation({ module: JOBS, scheduler: s, nodes: [node.location] });
  await next.schedule({ timeout: 30_000 });
  assert.equal(await (await next.run("double", 5)).finish({ timeout: 30_000 }), 10);
});
