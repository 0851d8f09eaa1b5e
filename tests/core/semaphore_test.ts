import assert from "node:assert/strict";
import { BoundedSemaphore, Event, LockNotHeld, Semaphore, TimeoutError } from "../../mod.ts";
import { LIMIT, queueOn, withScheduler } from "./_util.ts";

Deno.test("a semaphore hands out exactly its permits", async () => {
  const sem = new Semaphore(2);
  assert.equal(sem.value, 2);
  assert.equal(await sem.acquire(), true);
  assert.equal(await sem.acquire(), true);
  assert.equal(sem.value, 0);
  assert.equal(await sem.acquire({ timeout: 0 }), false);
  assert.equal(await sem.acquire({ timeout: 1 }), false);
  sem.release();
  assert.equal(sem.value, 1);
  assert.equal(await sem.acquire({ timeout: 0 }), true);
  sem.release();
  sem.release();
  assert.equal(sem.value, 2);
});

Deno.test("Semaphore defaults to one permit and may be released above it", () => {
  const sem = new Semaphore();
  assert.equal(sem.value, 1);
  sem.release();
  assert.equal(sem.value, 2);
  assert.equal(new Semaphore(0).value, 0);
});

Deno.test("semaphore waiters are served FIFO; release hands the permit over", async () => {
  await withScheduler(async (s) => {
    const sem = new Semaphore(0);
    const order: string[] = [];
    const tasks = await queueOn(s, sem, ["a", "b", "c"], order, { release: false });
    sem.release();
    // The permit went to a waiter, not to the pool.
    assert.equal(sem.value, 0);
    assert.equal(await sem.acquire({ timeout: 0 }), false);
    sem.release();
    sem.release();
    await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.deepEqual(order, ["a", "b", "c"]);
    assert.equal(sem.value, 0);
  });
});

Deno.test("a free permit does not let a newcomer overtake a waiter", async () => {
  await withScheduler(async (s) => {
    const sem = new Semaphore(0);
    const waiting = new Event();
    const waiter = s.spawn(async () => {
      waiting.set();
      return await sem.acquire({ timeout: LIMIT });
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    sem.release();
    assert.equal(await sem.acquire({ timeout: 0 }), false);
    assert.equal(await waiter.finish({ timeout: LIMIT }), true);
  });
});

Deno.test("at most value holders at a time", async () => {
  await withScheduler(async (s) => {
    const sem = new Semaphore(3);
    let inside = 0;
    let most = 0;
    const tasks = Array.from({ length: 10 }, () =>
      s.spawn(async (task) => {
        await using _permit = await sem.hold({ timeout: LIMIT });
        most = Math.max(most, ++inside);
        await task.sleep(0);
        inside--;
      }));
    await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.equal(most, 3);
    assert.equal(sem.value, 3);
  });
});

Deno.test("semaphore acquire with a signal rejects and leaves the queue", async () => {
  const sem = new Semaphore(0);
  const ac = new AbortController();
  const pending = sem.acquire({ signal: ac.signal });
  ac.abort(new Error("cancelled"));
  await assert.rejects(pending, { message: "cancelled" });
  sem.release();
  assert.equal(sem.value, 1);
});

Deno.test("semaphore hold() times out with TimeoutError", async () => {
  const sem = new Semaphore(0);
  await assert.rejects(sem.hold({ timeout: 1 }), TimeoutError);
  assert.equal(sem.value, 0);
});

Deno.test("BoundedSemaphore: release above the initial value throws LockNotHeld", async () => {
  const sem = new BoundedSemaphore(2);
  assert.equal(sem.bound, 2);
  assert.throws(() => sem.release(), LockNotHeld);
  await sem.acquire();
  await sem.acquire();
  sem.release();
  sem.release();
  assert.equal(sem.value, 2);
  assert.throws(() => sem.release(), LockNotHeld);
  assert.equal(sem.value, 2);
});

Deno.test("BoundedSemaphore hands a release to a waiter", async () => {
  await withScheduler(async (s) => {
    const sem = new BoundedSemaphore(1);
    await sem.acquire();
    const waiting = new Event();
    const waiter = s.spawn(async () => {
      waiting.set();
      const ok = await sem.acquire({ timeout: LIMIT });
      sem.release();
      return ok;
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    sem.release();
    assert.equal(await waiter.finish({ timeout: LIMIT }), true);
    assert.equal(sem.value, 1);
    assert.throws(() => sem.release(), LockNotHeld);
  });
});

Deno.test("BoundedSemaphore: hold() releases once on scope exit", async () => {
  const sem = new BoundedSemaphore(1);
  {
    await using _permit = await sem.hold();
    assert.equal(sem.value, 0);
  }
  assert.equal(sem.value, 1);
});
