import assert from "node:assert/strict";
import { currentTask, Event, Scheduler, spawn, Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("spawn passes the task first, then the arguments, and finish resolves the result", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(
      (task, a: number, b: string) => {
        assert.ok(task instanceof Task);
        return `${a}-${b}`;
      },
      1,
      "x",
    );
    assert.equal(await t.finish({ timeout: LIMIT }), "1-x");
    assert.equal(t.state, "finished");
    assert.equal(t.done, true);
  });
});

Deno.test("a task is scheduled at creation (no start) and runs at a later microtask", async () => {
  await withScheduler(async (s) => {
    let ran = false;
    const t = s.spawn(() => {
      ran = true;
    });
    assert.equal(ran, false);
    assert.equal(t.state, "ready");
    await t.finish({ timeout: LIMIT });
    assert.equal(ran, true);
  });
});

Deno.test("new Task(fn, ...args) creates and schedules like spawn", async () => {
  await withScheduler(async (s) => {
    const t = await s.spawn(() => new Task((_task, n: number) => n * 2, 21)).finish();
    assert.equal(t.scheduler, s);
    assert.equal(await t.finish({ timeout: LIMIT }), 42);
  });
});

Deno.test("name defaults to the function name; ids are unique per scheduler", async () => {
  await withScheduler(async (s) => {
    const a = s.spawn(function alpha() {});
    const b = s.spawn(function beta() {});
    const anon = s.spawn(() => {});
    assert.equal(a.name, "alpha");
    assert.equal(b.name, "beta");
    assert.equal(typeof anon.name, "string");
    assert.notEqual(anon.name, "");
    assert.equal(new Set([a.id, b.id, anon.id]).size, 3);
    assert.equal(a.location, null);
    await Promise.all([a.finish(), b.finish(), anon.finish()]);
  });
});

Deno.test("a task spawned inside a task runs on the same scheduler", async () => {
  await withScheduler(async (s) => {
    const parent = s.spawn(() => spawn(() => currentTask()));
    const child = await parent.finish({ timeout: LIMIT });
    assert.equal(child.scheduler, s);
    assert.equal(await child.finish({ timeout: LIMIT }), child);
  });
});

Deno.test("currentTask is the running task inside it and undefined outside", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      assert.equal(currentTask(), task);
      await task.sleep(0);
      return currentTask() === task;
    });
    assert.equal(await t.finish({ timeout: LIMIT }), true);
    assert.equal(currentTask(), undefined);
  });
});

Deno.test("a synchronous throw and an async rejection both fail the task", async () => {
  await withScheduler(async (s) => {
    const sync = s.spawn(() => {
      throw new Error("sync boom");
    });
    const asyncT = s.spawn(async (task) => {
      await task.sleep(0);
      throw new Error("async boom");
    });
    await assert.rejects(sync.finish({ timeout: LIMIT }), { message: "sync boom" });
    await assert.rejects(asyncT.finish({ timeout: LIMIT }), { message: "async boom" });
    assert.equal(sync.state, "failed");
    assert.equal(asyncT.state, "failed");
  });
});

Deno.test("finish on an ended task settles at once, as many times as asked", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(() => "v");
    assert.equal(await t.finish(), "v");
    assert.equal(await t.finish(), "v");
    const bad = s.spawn(() => Promise.reject(new RangeError("r")));
    await assert.rejects(bad.finish(), RangeError);
    await assert.rejects(bad.finish(), RangeError);
  });
});

Deno.test("finish with a timeout rejects with TimeoutError while the task keeps running", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep());
    await assert.rejects(t.finish({ timeout: 1 }), { name: "TimeoutError" });
    assert.equal(t.done, false);
    assert.equal(t.resume("late"), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "late");
  });
});

Deno.test("several finishers all get the result", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    const waiters = [1, 2, 3].map(() => s.spawn(() => t.finish({ timeout: LIMIT })));
    const outside = t.finish({ timeout: LIMIT });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume(9), true);
    assert.deepEqual(await Promise.all(waiters.map((w) => w.finish())), [9, 9, 9]);
    assert.equal(await outside, 9);
  });
});

Deno.test("state goes ready -> running -> suspended/receiving -> finished", async () => {
  await withScheduler(async (s) => {
    const seen: string[] = [];
    const asleep = new Event();
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      seen.push(task.state);
      asleep.set();
      await task.sleep();
      seen.push(task.state);
      receiving.set();
      return await task.receive();
    });
    assert.equal(t.state, "ready");
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "suspended");
    assert.equal(t.resume(), true);
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "receiving");
    t.send("m");
    assert.equal(await t.finish({ timeout: LIMIT }), "m");
    assert.deepEqual(seen, ["running", "running"]);
    assert.equal(t.state, "finished");
  });
});

Deno.test("sleep(ms, alarmValue) resolves the alarm value when the time is up", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => [await task.sleep(1, "alarm"), await task.sleep(1)]);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["alarm", undefined]);
  });
});

Deno.test("sleep(0) yields and resolves the alarm value", async () => {
  await withScheduler(async (s) => {
    const order: string[] = [];
    const a = s.spawn(async (task) => {
      order.push("a1");
      const v = await task.sleep(0, "zero");
      order.push("a2");
      return v;
    });
    const b = s.spawn(() => {
      order.push("b");
    });
    assert.equal(await a.finish({ timeout: LIMIT }), "zero");
    await b.finish();
    assert.deepEqual(order, ["a1", "b", "a2"]);
  });
});

Deno.test("suspend is the same as sleep", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      const a = await task.suspend(1, "timed");
      asleep.set();
      const b = await task.suspend();
      return [a, b];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume("woken"), true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["timed", "woken"]);
  });
});

Deno.test("sleep with a signal rejects with the signal's reason on abort", async () => {
  await withScheduler(async (s) => {
    const ac = new AbortController();
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      await task.sleep(undefined, undefined, { signal: ac.signal });
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    ac.abort(new Error("stop sleeping"));
    await assert.rejects(t.finish({ timeout: LIMIT }), { message: "stop sleeping" });
  });
});

Deno.test("the default scheduler is created lazily and renewed after it finished", async () => {
  const t = spawn((task) => task.scheduler);
  const s = await t.finish({ timeout: LIMIT });
  assert.equal(s, Scheduler.default());
  await s.finish();
  assert.equal(s.finished, true);
  assert.notEqual(Scheduler.default(), s);
  await Scheduler.default().finish();
});
