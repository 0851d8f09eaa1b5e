import assert from "node:assert/strict";
import { Event, Scheduler, Task, TaskTerminated } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("join waits for non-daemon tasks and ignores daemons", async () => {
  await withScheduler(async (s) => {
    const daemon = s.spawn(async (task) => {
      task.setDaemon();
      await task.sleep();
    });
    const asleep = new Event();
    const worker = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const joined = s.join({ timeout: LIMIT });
    assert.equal(worker.resume("done"), true);
    assert.equal(await joined, true);
    assert.equal(worker.state, "finished");
    assert.equal(daemon.daemon, true);
    assert.equal(daemon.done, false);
  });
});

Deno.test("join resolves true at once when only daemons are alive", async () => {
  await withScheduler(async (s) => {
    const daemon = s.spawn(async (task) => await task.sleep());
    daemon.setDaemon();
    assert.equal(await s.join({ timeout: LIMIT }), true);
    assert.equal(daemon.done, false);
  });
});

Deno.test("join with a timeout resolves false while a non-daemon task runs", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep());
    assert.equal(await s.join({ timeout: 1 }), false);
    assert.equal(t.done, false);
    assert.equal(t.resume(), true);
    assert.equal(await s.join({ timeout: LIMIT }), true);
  });
});

Deno.test("setDaemon(false) makes join wait for the task again", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      task.setDaemon();
      task.setDaemon(false);
      asleep.set();
      return await task.sleep();
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.daemon, false);
    assert.equal(await s.join({ timeout: 1 }), false);
    assert.equal(t.resume(), true);
    assert.equal(await s.join({ timeout: LIMIT }), true);
  });
});

Deno.test("finish waits for non-daemons, then terminates daemons (their finally runs)", async () => {
  const s = new Scheduler();
  let daemonFinally = false;
  const daemon = s.spawn(async (task) => {
    task.setDaemon();
    try {
      for (;;) await task.receive();
    } finally {
      daemonFinally = true;
    }
  });
  const worker = s.spawn(async (task) => {
    await task.sleep(1);
    daemon.send("work");
    return "worked";
  });
  assert.equal(await s.finish(), true);
  assert.equal(await worker.finish(), "worked");
  assert.equal(daemon.state, "terminated");
  assert.equal(daemonFinally, true);
  await assert.rejects(daemon.finish(), TaskTerminated);
  assert.equal(s.finished, true);
  assert.deepEqual(s.tasks(), []);
});

Deno.test("finish closes every adopted resource, whatever its closing method", async () => {
  const s = new Scheduler();
  const closed: string[] = [];
  s.adopt({ close: () => void closed.push("close") });
  s.adopt({ close: () => Promise.resolve().then(() => void closed.push("async close")) });
  s.adopt({ [Symbol.asyncDispose]: () => Promise.resolve(void closed.push("asyncDispose")) });
  s.adopt({ [Symbol.dispose]: () => void closed.push("dispose") });
  const disowned = s.adopt({ close: () => void closed.push("disowned") });
  s.disown(disowned);
  s.spawn(async (task) => {
    task.setDaemon();
    await task.sleep();
  });
  assert.equal(await s.finish(), true);
  assert.deepEqual(closed.sort(), ["async close", "asyncDispose", "close", "dispose"]);
});

Deno.test("finish closes adopted resources only after the tasks ended", async () => {
  const s = new Scheduler();
  const order: string[] = [];
  s.adopt({ close: () => void order.push("closed") });
  s.spawn(async (task) => {
    await task.sleep(1);
    order.push("task ended");
  });
  await s.finish();
  assert.deepEqual(order, ["task ended", "closed"]);
});

Deno.test("finish with a timeout resolves false and terminates the stragglers", async () => {
  const s = new Scheduler();
  let finallyRan = false;
  const t = s.spawn(async (task) => {
    try {
      await task.sleep();
    } finally {
      finallyRan = true;
    }
  });
  assert.equal(await s.finish({ timeout: 1 }), false);
  assert.equal(t.state, "terminated");
  assert.equal(finallyRan, true);
});

Deno.test("terminate() stops every task now, daemon or not", async () => {
  const s = new Scheduler();
  const a = s.spawn(async (task) => await task.sleep());
  const b = s.spawn(async (task) => await task.receive());
  b.setDaemon();
  const c = s.spawn(() => "quick");
  await s.terminate();
  assert.equal(a.state, "terminated");
  assert.equal(b.state, "terminated");
  // c had not started yet either: it is terminated before it runs.
  assert.equal(c.state, "terminated");
  assert.deepEqual(s.tasks(), []);
  await s.finish();
});

Deno.test("await using a scheduler finishes it on scope exit", async () => {
  let closed = false;
  let outer: Scheduler;
  {
    await using s = new Scheduler();
    outer = s;
    s.adopt({ close: () => void (closed = true) });
    s.spawn(async (task) => await task.sleep(1));
  }
  assert.equal(outer.finished, true);
  assert.equal(closed, true);
});

Deno.test("spawning on a finished scheduler throws", async () => {
  const s = new Scheduler();
  await s.finish();
  assert.throws(() => s.spawn(() => {}));
});

Deno.test("tasks() lists the live tasks; task(id) finds one", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const a = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    const b = s.spawn(() => "quick");
    assert.deepEqual(new Set(s.tasks()), new Set([a, b]));
    await b.finish();
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.deepEqual(s.tasks(), [a]);
    assert.equal(s.task(a.id), a);
    assert.equal(s.task(b.id), undefined);
    assert.equal(a.resume(), true);
    await a.finish({ timeout: LIMIT });
    assert.deepEqual(s.tasks(), []);
  });
});

Deno.test("tasks() stays in creation order and task(id) right as tasks end in any order", async () => {
  await withScheduler(async (s) => {
    const sleepers = Array.from({ length: 6 }, () => s.spawn((task) => task.sleep()));
    await s.spawn(() => {}).finish();
    assert.equal(s.task(sleepers[0].id), sleepers[0]); // builds the id index
    for (const i of [1, 4, 0]) {
      sleepers[i].resume();
      await sleepers[i].finish({ timeout: LIMIT });
    }
    const rest = [2, 3, 5].map((i) => sleepers[i]);
    assert.deepEqual(s.tasks(), rest);
    for (const t of rest) assert.equal(s.task(t.id), t);
    for (const i of [1, 4, 0]) assert.equal(s.task(sleepers[i].id), undefined);
    const late = s.spawn((task) => task.sleep());
    assert.equal(s.task(late.id), late);
    assert.deepEqual(s.tasks(), [...rest, late]);
  });
});

Deno.test("schedulers are isolated from each other", async () => {
  await withScheduler(async (s1) => {
    await withScheduler(async (s2) => {
      const t1 = s1.spawn(async (task) => await task.sleep());
      assert.equal(t1.register("svc"), true);
      assert.equal(await s2.locate("svc"), undefined);
      assert.deepEqual(s2.tasks(), []);
      assert.notEqual(s1.incarnation, s2.incarnation);
      assert.equal(s1.location, null);
      assert.equal(t1.resume(), true);
      await t1.finish({ timeout: LIMIT });
    });
  });
});

Deno.test("register, locate and unregister a task by name", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep());
    assert.equal(t.register("service"), true);
    assert.equal(await s.locate("service"), t);
    assert.equal(await Task.locate("service", { scheduler: s }), t);
    // The name is taken by a live task.
    const other = s.spawn(async (task) => await task.sleep());
    assert.equal(other.register("service"), false);
    assert.equal(await s.locate("service"), t);
    // Registering again under the same name is fine.
    assert.equal(t.register("service"), true);
    assert.equal(t.unregister(), true);
    assert.equal(t.unregister(), false);
    assert.equal(await s.locate("service"), undefined);
    assert.equal(other.register("service"), true);
    assert.equal(await s.locate("service"), other);
    assert.equal(t.resume(), true);
    assert.equal(other.resume(), true);
    await Promise.all([t.finish({ timeout: LIMIT }), other.finish({ timeout: LIMIT })]);
  });
});

Deno.test("register() with no name uses the task's name", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async function namedService(task) {
      return await task.sleep();
    });
    assert.equal(t.register(), true);
    assert.equal(await s.locate("namedService"), t);
    assert.equal(t.resume(), true);
    await t.finish({ timeout: LIMIT });
  });
});

Deno.test("a registered name is freed when the task ends, however it ends", async () => {
  await withScheduler(async (s) => {
    for (const end of ["finish", "fail", "terminate"] as const) {
      const asleep = new Event();
      const t = s.spawn(async (task) => {
        asleep.set();
        await task.sleep();
        if (end === "fail") throw new Error("failed");
        return "finished";
      });
      assert.equal(t.register("svc"), true);
      assert.equal(await asleep.wait({ timeout: LIMIT }), true);
      if (end === "terminate") t.terminate();
      else assert.equal(t.resume(), true);
      await t.finish({ timeout: LIMIT }).catch(() => {});
      assert.equal(await s.locate("svc"), undefined, `after ${end}`);
      assert.equal(t.register("svc"), false, "an ended task cannot register");
      const next = s.spawn(() => {});
      assert.equal(next.register("svc"), true, `name reusable after ${end}`);
      next.unregister();
      await next.finish();
    }
  });
});

Deno.test("locate of an unknown name resolves undefined", async () => {
  await withScheduler(async (s) => {
    assert.equal(await s.locate("nobody", { timeout: 1 }), undefined);
    assert.equal(await Task.locate("nobody", { scheduler: s, timeout: 1 }), undefined);
  });
});
