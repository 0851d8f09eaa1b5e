import assert from "node:assert/strict";
import { Event, MonitorStatus, type Scheduler, type Task, TaskTerminated } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** A task that monitors `target` and returns the first message it receives. */
function watch(s: Scheduler, target: Task): Task<MonitorStatus> {
  return s.spawn(async (task) => {
    task.monitor(target);
    return await task.receive<MonitorStatus>();
  });
}

Deno.test("a monitor receives 'finished' with the return value", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const worker = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
      return { answer: 42 };
    });
    const watcher = watch(s, worker);
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(worker.resume(), true);
    const status = await watcher.finish({ timeout: LIMIT });
    assert.ok(status instanceof MonitorStatus);
    assert.equal(status.type, "finished");
    assert.equal(status.task, worker);
    assert.deepEqual(status.value, { answer: 42 });
  });
});

Deno.test("a monitor receives 'failed' with the error", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const boom = new Error("boom");
    const worker = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
      throw boom;
    });
    const watcher = watch(s, worker);
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(worker.resume(), true);
    const status = await watcher.finish({ timeout: LIMIT });
    assert.equal(status.type, "failed");
    assert.equal(status.value, boom);
    await assert.rejects(worker.finish(), { message: "boom" });
  });
});

Deno.test("a monitor receives 'terminated' with TaskTerminated", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const worker = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
    });
    const watcher = watch(s, worker);
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    worker.terminate();
    const status = await watcher.finish({ timeout: LIMIT });
    assert.equal(status.type, "terminated");
    assert.ok(status.value instanceof TaskTerminated);
    assert.equal(status.task, worker);
    await assert.rejects(worker.finish(), TaskTerminated);
  });
});

Deno.test("monitoring a task that has already ended sends the status at once", async () => {
  await withScheduler(async (s) => {
    const worker = s.spawn(() => "early");
    await worker.finish();
    const status = await watch(s, worker).finish({ timeout: LIMIT });
    assert.equal(status.type, "finished");
    assert.equal(status.value, "early");
  });
});

Deno.test("several monitors each receive the status", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const worker = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    const watchers = [watch(s, worker), watch(s, worker), watch(s, worker)];
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(worker.resume("v"), true);
    for (const w of watchers) {
      const status = await w.finish({ timeout: LIMIT });
      assert.equal(status.type, "finished");
      assert.equal(status.value, "v");
    }
  });
});

Deno.test("a task can monitor several tasks and tell their statuses apart", async () => {
  await withScheduler(async (s) => {
    const a = s.spawn(() => "a");
    const b = s.spawn(() => {
      throw new Error("b");
    });
    const watcher = s.spawn(async (task) => {
      task.monitor(a);
      task.monitor(b);
      const got = new Map<Task, string>();
      for (let i = 0; i < 2; i++) {
        const st = await task.receive<MonitorStatus>();
        got.set(st.task, st.type);
      }
      return got;
    });
    const got = await watcher.finish({ timeout: LIMIT });
    assert.equal(got.get(a), "finished");
    assert.equal(got.get(b), "failed");
    await assert.rejects(b.finish());
  });
});

Deno.test("a monitor that ended first does not break the watched task's ending", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const worker = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    const watcher = s.spawn((task) => task.monitor(worker));
    await watcher.finish({ timeout: LIMIT });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(worker.resume("fine"), true);
    assert.equal(await worker.finish({ timeout: LIMIT }), "fine");
  });
});

Deno.test("a status is an ordinary message: it queues in arrival order and does not wake a sleep", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const worker = s.spawn(() => "w");
    const watcher = s.spawn(async (task) => {
      task.monitor(worker);
      asleep.set();
      await task.sleep();
      return [await task.receive(), await task.receive<MonitorStatus>()];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    await worker.finish();
    watcher.send("after");
    assert.equal(watcher.resume(), true);
    const [first, second] = await watcher.finish({ timeout: LIMIT }) as [unknown, MonitorStatus];
    // The worker ended (and its status was queued) before "after" was sent.
    assert.ok(first instanceof MonitorStatus);
    assert.equal(second, "after");
  });
});

Deno.test("monitor of something that is not a task throws TypeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn((task) => {
      // deno-lint-ignore no-explicit-any
      task.monitor({} as any);
    });
    await assert.rejects(t.finish({ timeout: LIMIT }), TypeError);
  });
});
