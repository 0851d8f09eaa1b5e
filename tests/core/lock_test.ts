import assert from "node:assert/strict";
import { Lock, LockNotHeld, TimeoutError } from "../../mod.ts";
import { holdInTask, LIMIT, queueOn, withScheduler } from "./_util.ts";

Deno.test("acquire takes a free lock, release frees it", async () => {
  const lock = new Lock();
  assert.equal(lock.locked(), false);
  assert.equal(await lock.acquire(), true);
  assert.equal(lock.locked(), true);
  lock.release();
  assert.equal(lock.locked(), false);
});

Deno.test("waiters get the lock in FIFO order", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const order: string[] = [];
    const tasks = await queueOn(s, lock, ["first", "second", "third", "fourth"], order);
    lock.release();
    await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.deepEqual(order, ["first", "second", "third", "fourth"]);
    assert.equal(lock.locked(), false);
  });
});

Deno.test("a newcomer does not overtake waiters when the lock is released", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const order: string[] = [];
    const tasks = await queueOn(s, lock, ["waiter"], order);
    lock.release();
    // The lock went straight to the waiter: a try-once acquire now fails.
    assert.equal(await lock.acquire({ timeout: 0 }), false);
    await tasks[0].finish({ timeout: LIMIT });
    assert.deepEqual(order, ["waiter"]);
  });
});

Deno.test("acquire with a timeout resolves false when the lock stays held", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const t = s.spawn(() => lock.acquire({ timeout: 1 }));
    assert.equal(await t.finish({ timeout: LIMIT }), false);
    // The timed-out waiter left the queue: release frees the lock.
    lock.release();
    assert.equal(lock.locked(), false);
  });
});

Deno.test("acquire with timeout 0 tries once", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    const holder = s.spawn(() => lock.acquire({ timeout: 0 }));
    assert.equal(await holder.finish(), true);
    const other = s.spawn(() => lock.acquire({ timeout: 0 }));
    assert.equal(await other.finish(), false);
  });
});

Deno.test("acquire with a signal rejects with the reason and leaves the queue", async () => {
  const lock = new Lock();
  await lock.acquire();
  const ac = new AbortController();
  const pending = lock.acquire({ signal: ac.signal });
  const reason = new Error("gave up");
  ac.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  lock.release();
  assert.equal(lock.locked(), false);
  // An already aborted signal rejects at once when the lock is busy.
  await lock.acquire();
  await assert.rejects(lock.acquire({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
  lock.release();
});

Deno.test("release by a task that does not hold the lock throws LockNotHeld", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    const holder = await holdInTask(s, lock);
    const intruder = s.spawn(() => lock.release());
    await assert.rejects(intruder.finish({ timeout: LIMIT }), LockNotHeld);
    assert.equal(lock.locked(), true);
    // Code outside any task does not hold it either.
    assert.throws(() => lock.release(), LockNotHeld);
    assert.equal(holder.resume(), true);
    await holder.finish({ timeout: LIMIT });
    assert.equal(lock.locked(), false);
  });
});

Deno.test("hold() with await using releases on scope exit, also when the scope throws", async () => {
  const lock = new Lock();
  {
    await using _held = await lock.hold();
    assert.equal(lock.locked(), true);
  }
  assert.equal(lock.locked(), false);
  await assert.rejects(async () => {
    await using _held = await lock.hold();
    throw new Error("inside");
  }, { message: "inside" });
  assert.equal(lock.locked(), false);
  {
    using held = await lock.hold();
    held.release();
    assert.equal(lock.locked(), false);
    // Disposal after an explicit release does not release twice.
  }
  assert.equal(lock.locked(), false);
});

Deno.test("hold() with a timeout rejects with TimeoutError", async () => {
  const lock = new Lock();
  await lock.acquire();
  await assert.rejects(lock.hold({ timeout: 1 }), TimeoutError);
  await assert.rejects(lock.hold({ timeout: 0 }), TimeoutError);
  lock.release();
  assert.equal(lock.locked(), false);
});

Deno.test("the lock gives mutual exclusion across awaits", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    let inside = 0;
    let most = 0;
    const worker = async (task: { sleep(ms: number): Promise<unknown> }) => {
      for (let i = 0; i < 10; i++) {
        await using _held = await lock.hold({ timeout: LIMIT });
        most = Math.max(most, ++inside);
        await task.sleep(0);
        inside--;
      }
    };
    const tasks = [1, 2, 3, 4, 5].map(() => s.spawn(worker));
    await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.equal(most, 1);
  });
});
