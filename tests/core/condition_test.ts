import assert from "node:assert/strict";
import {
  Condition,
  Event,
  Lock,
  LockNotHeld,
  RLock,
  type Scheduler,
  type Task,
} from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** Spawns `names.length` tasks that wait on `cond` in order and log when woken. */
async function waitersOn(
  s: Scheduler,
  cond: Condition,
  names: string[],
  order: string[],
  onWake: () => void = () => {},
): Promise<Task[]> {
  const tasks = [];
  for (const name of names) {
    const waiting = new Event();
    tasks.push(s.spawn(async () => {
      await using _held = await cond.hold();
      waiting.set();
      const notified = await cond.wait({ timeout: LIMIT });
      order.push(`${name}:${notified}`);
      onWake();
    }));
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
  }
  return tasks;
}

for (const kind of ["Lock", "RLock"] as const) {
  const make = (): Condition => new Condition(kind === "Lock" ? new Lock() : new RLock());

  Deno.test(`Condition(${kind}): notify wakes one waiter at a time, FIFO`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const order: string[] = [];
      const tasks = await waitersOn(s, cond, ["a", "b", "c"], order);
      const notifier = s.spawn(async (task) => {
        for (let i = 0; i < 3; i++) {
          await using _held = await cond.hold();
          cond.notify();
          await task.sleep(0);
        }
      });
      await notifier.finish({ timeout: LIMIT });
      await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
      assert.deepEqual(order, ["a:true", "b:true", "c:true"]);
      assert.equal(cond.lock.locked(), false);
    });
  });

  Deno.test(`Condition(${kind}): notify(n) wakes the n oldest; notifyAll wakes the rest in order`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const order: string[] = [];
      const twoWoken = new Event();
      const tasks = await waitersOn(s, cond, ["a", "b", "c", "d", "e"], order, () => {
        if (order.length === 2) twoWoken.set();
      });
      let wokenBeforeNotifyAll = -1;
      const notifier = s.spawn(async () => {
        {
          await using _held = await cond.hold();
          cond.notify(2);
        }
        assert.equal(await twoWoken.wait({ timeout: LIMIT }), true);
        // A third woken waiter would be queued on the lock ahead of this hold.
        await using _held = await cond.hold();
        wokenBeforeNotifyAll = order.length;
        cond.notifyAll();
      });
      await notifier.finish({ timeout: LIMIT });
      await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
      assert.equal(wokenBeforeNotifyAll, 2);
      assert.deepEqual(order, ["a:true", "b:true", "c:true", "d:true", "e:true"]);
    });
  });

  Deno.test(`Condition(${kind}): wait with a timeout resolves false with the lock held again`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const t = s.spawn(async () => {
        await using _held = await cond.hold();
        const notified = await cond.wait({ timeout: 1 });
        const lock = cond.lock;
        const held = lock instanceof RLock ? lock.owned() : lock.locked();
        return [notified, held];
      });
      assert.deepEqual(await t.finish({ timeout: LIMIT }), [false, true]);
      assert.equal(cond.lock.locked(), false);
    });
  });

  Deno.test(`Condition(${kind}): a notified waiter resumes only once the notifier releases`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const log: string[] = [];
      const waiting = new Event();
      const waiter = s.spawn(async () => {
        await using _held = await cond.hold();
        waiting.set();
        await cond.wait({ timeout: LIMIT });
        log.push("waiter woke");
      });
      assert.equal(await waiting.wait({ timeout: LIMIT }), true);
      const notifier = s.spawn(async (task) => {
        await using _held = await cond.hold();
        cond.notify();
        await task.sleep(0);
        await task.sleep(0);
        log.push("notifier releasing");
      });
      await Promise.all([notifier.finish({ timeout: LIMIT }), waiter.finish({ timeout: LIMIT })]);
      assert.deepEqual(log, ["notifier releasing", "waiter woke"]);
    });
  });

  Deno.test(`Condition(${kind}): wait without the lock throws LockNotHeld`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const t = s.spawn(() => cond.wait({ timeout: LIMIT }));
      await assert.rejects(t.finish({ timeout: LIMIT }), LockNotHeld);
    });
  });

  Deno.test(`Condition(${kind}): wait with a signal rejects and takes the lock back`, async () => {
    await withScheduler(async (s) => {
      const cond = make();
      const ac = new AbortController();
      const waiting = new Event();
      let heldAfter = false;
      const t = s.spawn(async () => {
        await using _held = await cond.hold();
        waiting.set();
        try {
          await cond.wait({ signal: ac.signal });
        } finally {
          heldAfter = cond.lock.locked();
        }
      });
      assert.equal(await waiting.wait({ timeout: LIMIT }), true);
      ac.abort(new Error("aborted wait"));
      await assert.rejects(t.finish({ timeout: LIMIT }), { message: "aborted wait" });
      assert.equal(heldAfter, true);
      assert.equal(cond.lock.locked(), false);
    });
  });
}

Deno.test("Condition over an RLock held at depth 2 restores the depth after wait", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const cond = new Condition(lock);
    const waiting = new Event();
    const waiter = s.spawn(async () => {
      await lock.acquire();
      await lock.acquire();
      waiting.set();
      const notified = await cond.wait({ timeout: LIMIT });
      lock.release();
      const stillOwned = lock.owned();
      lock.release();
      return [notified, stillOwned, lock.locked()];
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    // wait released every level, so another task can take the lock now.
    const notifier = s.spawn(async () => {
      assert.equal(await lock.acquire({ timeout: 0 }), true);
      cond.notify();
      lock.release();
    });
    await notifier.finish({ timeout: LIMIT });
    assert.deepEqual(await waiter.finish({ timeout: LIMIT }), [true, true, false]);
  });
});

Deno.test("Condition defaults to an RLock; a bad lock argument throws TypeError", () => {
  assert.ok(new Condition().lock instanceof RLock);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Condition({} as any), TypeError);
});

Deno.test("notify and notifyAll with nobody waiting do nothing", async () => {
  const cond = new Condition();
  cond.notify();
  cond.notify(3);
  cond.notifyAll();
  assert.equal(await cond.acquire({ timeout: 0 }), true);
  cond.release();
});

Deno.test("producer/consumer through a Condition", async () => {
  await withScheduler(async (s) => {
    const cond = new Condition();
    const items: number[] = [];
    const consumer = s.spawn(async () => {
      const got: number[] = [];
      while (got.length < 20) {
        await using _held = await cond.hold();
        while (items.length === 0) await cond.wait({ timeout: LIMIT });
        got.push(items.shift()!);
      }
      return got;
    });
    const producer = s.spawn(async (task) => {
      for (let i = 0; i < 20; i++) {
        await using _held = await cond.hold();
        items.push(i);
        cond.notify();
        if (i % 3 === 0) await task.sleep(0);
      }
    });
    await producer.finish({ timeout: LIMIT });
    assert.deepEqual(
      await consumer.finish({ timeout: LIMIT }),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });
});
