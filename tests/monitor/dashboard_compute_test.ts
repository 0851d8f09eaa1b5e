/**
 * A `Dashboard` on a real `Computation` against a real `ComputeNode`: the
 * status listener sees what the status task sees, `TaskStarted` names the
 * export and its arguments, and terminate over HTTP ends a hanging job.
 */
import assert from "node:assert/strict";
import { MonitorStatus, Scheduler, type Task, TaskTerminated } from "../../mod.ts";
import {
  Computation,
  ComputeNode,
  NodeAvailability,
  StatusMessage,
} from "../../src/compute/mod.ts";
import { Dashboard, jobKey, type Snapshot } from "../../src/monitor/mod.ts";

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
        body: JSON.stringify({ job: jobKey(hang) }),
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
      // The job's key is its node, that node's incarnation and its id there.
      const { hostname, port } = node.location;
      assert.equal(s.done[1].key, `${hostname}:${port}/${hang.incarnation}/${hang.id}`);

      // Suspend the node from the API: the computation places no job there, until resumed.
      const act = async (action: string, body: unknown) => {
        const r = await fetch(new URL(`api/${action}`, d.url), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return { status: r.status, body: await r.json() };
      };
      const id = `${hostname}:${port}`;
      assert.deepEqual(await act("suspend", { node: id }), {
        status: 200,
        body: { suspended: 2, target: id },
      });
      await assert.rejects(comp.run("double", 1), /no server available/);
      let n = (await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot).nodes[0];
      assert.deepEqual([n.suspended, n.servers.map((v) => v.suspended)], [2, [true, true]]);
      assert.equal((await act("resume", { server: `${id}/${n.servers[0].id}` })).status, 200);
      n = (await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot).nodes[0];
      assert.deepEqual(n.servers.map((v) => v.suspended), [false, true]);
      assert.equal(await (await comp.run("double", 2)).finish({ timeout: 30_000 }), 4);

      // A suspend made on the computation itself shows from a later pulse.
      assert.equal(comp.suspend(`${id}/${n.servers[0].id}`), 1);
      const deadline = performance.now() + 30_000;
      for (;;) {
        n = (await (await fetch(new URL("api/snapshot", d.url))).json() as Snapshot).nodes[0];
        if (n.servers[0].suspended) break;
        assert.ok(performance.now() < deadline, "the direct suspend never showed");
        await new Promise<void>((pulse) => {
          const stop = comp.addStatusListener((m) => {
            if (m instanceof NodeAvailability) queueMicrotask(() => (stop(), pulse()));
          });
        });
      }
      assert.deepEqual(n.servers.map((v) => v.suspended), [true, true]);
      assert.equal(n.suspended, 2);
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
