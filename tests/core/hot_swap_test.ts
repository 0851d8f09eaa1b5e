import assert from "node:assert/strict";
import { Event, HotSwap, type Task, TaskEnded } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("hotSwap accepted: the task restarts with the new function, keeping mailbox and id", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async function v1(task: Task): Promise<unknown> {
      task.hotSwappable();
      asleep.set();
      // Sleeping, so the messages below stay queued for the new function.
      await task.sleep();
      return "v1 ended";
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const id = t.id;
    t.send("a");
    t.send("b");
    let sameTask = false;
    const accepted = await t.hotSwap(async function v2(task: Task, tag: string) {
      sameTask = task === t;
      return [tag, await task.receive(), await task.receive()];
    }, "v2");
    assert.equal(accepted, true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["v2", "a", "b"]);
    assert.equal(t.id, id);
    assert.equal(sameTask, true);
  });
});

Deno.test("hotSwap accepted when the task catches HotSwap and rethrows it", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    let seen: unknown;
    const t = s.spawn(async (task): Promise<unknown> => {
      task.hotSwappable();
      try {
        receiving.set();
        await task.receive();
      } catch (e) {
        seen = e;
        throw e;
      }
      return "old";
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    const v2 = () => "new";
    assert.equal(await t.hotSwap(v2), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "new");
    assert.ok(seen instanceof HotSwap);
    assert.equal((seen as HotSwap).fn, v2);
  });
});

Deno.test("hotSwap refused when the task swallows HotSwap: resolves false, old function keeps running", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    let swallowed = 0;
    const t = s.spawn(async (task): Promise<unknown> => {
      task.hotSwappable();
      for (;;) {
        try {
          receiving.set();
          const m = await task.receive();
          if (m === "ping") return `old function, swallowed ${swallowed}`;
        } catch (e) {
          if (!(e instanceof HotSwap)) throw e;
          swallowed++;
        }
      }
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    const accepted = await t.hotSwap(() => "new function");
    assert.equal(accepted, false);
    assert.equal(t.done, false);
    t.send("ping");
    assert.equal(await t.finish({ timeout: LIMIT }), "old function, swallowed 1");
  });
});

Deno.test("hotSwap waits until the task says it is swappable", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const swappable = new Event();
    const t = s.spawn(async (task): Promise<unknown> => {
      asleep.set();
      // Not swappable yet: this sleep is not interrupted by the swap request.
      const v = await task.sleep();
      task.hotSwappable();
      swappable.set();
      await task.sleep();
      return `old ${v}`;
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const swapped = t.hotSwap(() => "new");
    assert.equal(t.state, "suspended");
    assert.equal(t.resume("resumed"), true);
    assert.equal(await swapped, true);
    assert.equal(swappable.isSet(), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "new");
  });
});

Deno.test("hotSwappable(false) keeps a pending swap from interrupting waits", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task): Promise<unknown> => {
      task.hotSwappable();
      task.hotSwappable(false);
      asleep.set();
      return await task.sleep();
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const swapped = t.hotSwap(() => "new");
    assert.equal(t.resume("old"), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "old");
    // The task ended without accepting: the swap resolves false.
    assert.equal(await swapped, false);
  });
});

Deno.test("a newer hotSwap replaces a pending one, which resolves false", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task): Promise<unknown> => {
      asleep.set();
      await task.sleep();
      task.hotSwappable();
      await task.sleep();
      return "old";
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const first = t.hotSwap(() => "first");
    const second = t.hotSwap(() => "second");
    assert.equal(await first, false);
    assert.equal(t.resume(), true);
    assert.equal(await second, true);
    assert.equal(await t.finish({ timeout: LIMIT }), "second");
  });
});

Deno.test("hotSwap on an ended task rejects with TaskEnded", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn((): unknown => "done");
    await t.finish();
    await assert.rejects(t.hotSwap(() => "new"), TaskEnded);
    const failed = s.spawn((): unknown => {
      throw new Error("x");
    });
    await assert.rejects(failed.finish());
    await assert.rejects(failed.hotSwap(() => "new"), TaskEnded);
  });
});

Deno.test("a task terminated with a swap pending: the swap resolves false", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task): Promise<unknown> => {
      asleep.set();
      await task.sleep();
      return "old";
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const swapped = t.hotSwap(() => "new");
    t.terminate();
    assert.equal(await swapped, false);
    await assert.rejects(t.finish({ timeout: LIMIT }), { name: "TaskTerminated" });
  });
});

Deno.test("after a swap the monitors and finishers of the task still see it end", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task): Promise<unknown> => {
      task.hotSwappable();
      asleep.set();
      await task.sleep();
      return "old";
    });
    const watcher = s.spawn(async (task): Promise<unknown> => {
      task.monitor(t);
      return await task.receive({ timeout: LIMIT });
    });
    const finished = t.finish({ timeout: LIMIT });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(await t.hotSwap(() => 42), true);
    assert.equal(await finished, 42);
    const status = await watcher.finish({ timeout: LIMIT }) as { type: string; value: unknown };
    assert.equal(status.type, "finished");
    assert.equal(status.value, 42);
  });
});

Deno.test("hotSwap of a non-function rejects with TypeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep(0));
    // deno-lint-ignore no-explicit-any
    await assert.rejects(t.hotSwap(42 as any), TypeError);
    await t.finish({ timeout: LIMIT });
  });
});
