/**
 * A `Dashboard` on a real `Computation` against a real `ComputeNode`: the
 * status listener sees what the status task sees, `TaskStarted` names the
 * export and its arguments, and terminate over HTTP ends a hanging job.
 */
import assert from "node:assert/strict";
import { MonitorStatus, Scheduler, type Task, TaskTerminated } from "../../mod.ts";
import { Computation, ComputeNode, StatusMessage } from "../../src/compute/mod.ts";
import { Dashboard, type Snapshot } from "../../src/monitor/mod.ts";

const JOBS = new URL("../compute/fixtures/comp_jobs.ts", import.meta.url);

Deno.test("dashboard on a computation: jobs show with name and args; terminate ends one", async () => {
  const node = await ComputeNode.start({ hostname: "127.0.0.1", port: 0, cpus: 2, secret: "s" });
  const client = new Scheduler();
  try {
    await client.listen({ hostname: "127.0.0.1", port: 0, secret: "s" });
    const seen: unknown[] = [];
    const allSeen = Promise.withResolvers<void>();
    const status = client.spawn(async function status(task: Task) {
      task.setDaemon();
      for (;;) {
        const m = await task.receive();
        if (m === "end") allSeen.resolve();
        else seen.push(m);
      }
    });
    const comp = new Computation({
      module: JOBS,
      scheduler: client,
      status,
      nodes: [node.location],
    });
    const tapped: unknown[] = [];
    const ends = new Map<string, () => void>();
    const untap = comp.addStatusListener((m) => {
      tapped.push(m);
      if (m instanceof MonitorStatus) ends.get((m.task as unknown as { key: string }).key)?.();
    });
    // A listener that throws is logged and kept; the others and the status task carry on.
    comp.addStatusListener(() => {
      throw new Error("a broken listener");
    });
    await using d = new Dashboard(comp, { port: 0, onListen: () => {} });
    try {
      await comp.schedule({ timeout: 30_000 });
      const job = await comp.run("double", 21);
      assert.equal(await job.finish({ timeout: 30_000 }), 42);
      const hang = await comp.run("hang");
      // Listeners run in order: once this one hears the end, so has the dashboard's.
      const hangEnded = new Promise<void>((r) => ends.set(hang.key, r));
      const started = tapped.find((m) => m instanceof StatusMessage && m.type === "TaskStarted");
      assert.deepEqual((started as StatusMessage).info, { name: "double", args: [21], attempt: 1 });
      const res = await fetch(new URL("api/terminate", d.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ job: hang.key }),
      });
      assert.equal(res.status, 202);
      await res.body?.cancel();
      await assert.rejects(hang.finish({ timeout: 30_000 }), TaskTerminated);
      await hangEnded;
      const s = await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot;
      assert.deepEqual(s.done.map((j) => [j.name, j.args, j.outcome]), [
        ["double", "21", "finished"],
        ["hang", "", "terminated"],
      ]);
      assert.equal(s.done[0].result, "42");
      assert.equal(s.nodes.length, 1);
      assert.equal(s.nodes[0].servers.length, 2);
    } finally {
      await comp.close();
      untap();
    }
    // The status task got every message the listener did, in the same order.
    status.send("end");
    await allSeen.promise;
    assert.deepEqual(seen, tapped);
  } finally {
    await client.finish();
    await node.close();
  }
});
