import assert from "node:assert/strict";
import { Event, LockNotHeld, RLock, TimeoutError } from "../../mod.ts";
import { holdInTask, LIMIT, queueOn, withScheduler } from "./_util.ts";

Deno.test("the holder may acquire again; the lock is free after as many releases", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const t = s.spawn(async () => {
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire({ timeout: 0 }), true);
      assert.equal(await lock.acquire(), true);
      assert.equal(lock.owned(), true);
      lock.release();
      lock.release();
      const stillHeld = lock.locked() && lock.owned();
      lock.release();
      return [stillHeld, lock.locked()];
    });
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [true, false]);
  });
});

Deno.test("another task waits until the holder released every level", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const held = new Event();
    const log: string[] = [];
    const holder = s.spawn(async (task) => {
      await lock.acquire();
      await lock.acquire();
      held.set();
      await task.sleep();
      lock.release();
      log.push("released once");
      await task.sleep(0);
      lock.release();
      log.push("released twice");
    });
    assert.equal(await held.wait({ timeout: LIMIT }), true);
    const other = s.spawn(async () => {
      assert.equal(lock.owned(), false);
      assert.equal(await lock.acquire({ timeout: LIMIT }), true);
      log.push("other acquired");
      assert.equal(lock.owned(), true);
      lock.release();
    });
    assert.equal(holder.resume(), true);
    await Promise.all([holder.finish({ timeout: LIMIT }), other.finish({ timeout: LIMIT })]);
    assert.deepEqual(log, ["released once", "released twice", "other acquired"]);
    assert.equal(lock.locked(), false);
  });
});

Deno.test("release by a task that does not own the RLock throws LockNotHeld", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    assert.throws(() => lock.release(), LockNotHeld);
    const holder = await holdInTask(s, lock);
    const intruder = s.spawn(() => lock.release());
    await assert.rejects(intruder.finish({ timeout: LIMIT }), LockNotHeld);
    assert.throws(() => lock.release(), LockNotHeld);
    assert.equal(lock.owned(), false); // outside code does not own it
    assert.equal(holder.resume(), true);
    await holder.finish({ timeout: LIMIT });
    assert.equal(lock.locked(), false);
  });
});

Deno.test("RLock waiters are served FIFO and a timed-out waiter leaves the queue", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    await lock.acquire();
    const order: string[] = [];
    const tasks = await queueOn(s, lock, ["a", "b", "c"], order);
    const timedOut = s.spawn(() => lock.acquire({ timeout: 1 }));
    assert.equal(await timedOut.finish({ timeout: LIMIT }), false);
    lock.release();
    await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.deepEqual(order, ["a", "b", "c"]);
    assert.equal(lock.locked(), false);
  });
});

Deno.test("RLock acquire with a signal rejects with the reason", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const holder = await holdInTask(s, lock);
    const ac = new AbortController();
    const pending = lock.acquire({ signal: ac.signal });
    ac.abort(new Error("stop"));
    await assert.rejects(pending, { message: "stop" });
    assert.equal(holder.resume(), true);
    await holder.finish({ timeout: LIMIT });
    assert.equal(lock.locked(), false);
  });
});

Deno.test("RLock hold() releases one level on scope exit", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const t = s.spawn(async () => {
      await using _outer = await lock.hold();
      {
        await using _inner = await lock.hold();
      }
      return lock.owned();
    });
    assert.equal(await t.finish({ timeout: LIMIT }), true);
    assert.equal(lock.locked(), false);
    await lock.acquire();
    const blocked = s.spawn(() => lock.hold({ timeout: 1 }));
    await assert.rejects(blocked.finish({ timeout: LIMIT }), TimeoutError);
    lock.release();
  });
});
