/**
 * An already aborted signal makes every wait reject with the signal's reason
 * before it does anything, even a wait that could be satisfied at once; and
 * the wait takes nothing (the lock stays free, the message stays queued).
 *
 * @module
 */
import assert from "node:assert/strict";
import { BoundedSemaphore, Channel, Condition, Event, Lock, RLock, Semaphore } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

const reason = new Error("already aborted");
const aborted = (): AbortSignal => AbortSignal.abort(reason);
const isReason = (e: unknown): boolean => e === reason;

Deno.test("aborted signal: a free Lock is not taken", async () => {
  const lock = new Lock();
  await assert.rejects(lock.acquire({ signal: aborted() }), isReason);
  assert.equal(lock.locked(), false);
  assert.equal(await lock.acquire({ timeout: 0 }), true);
  lock.release();
});

Deno.test("aborted signal: a free RLock is not taken", async () => {
  await withScheduler(async (s) => {
    const lock = new RLock();
    const t = s.spawn(async () => {
      await assert.rejects(lock.acquire({ signal: aborted() }), isReason);
      return lock.locked();
    });
    assert.equal(await t.finish(), false);
  });
});

Deno.test("aborted signal: Semaphore and BoundedSemaphore keep their permits", async () => {
  for (const sem of [new Semaphore(2), new BoundedSemaphore(2)]) {
    await assert.rejects(sem.acquire({ signal: aborted() }), isReason);
    assert.equal(sem.value, 2);
  }
});

Deno.test("aborted signal: waiting on a set Event rejects", async () => {
  const event = new Event();
  event.set();
  await assert.rejects(event.wait({ signal: aborted() }), isReason);
  assert.equal(event.isSet(), true);
});

Deno.test("aborted signal: Condition.wait rejects and the caller keeps the lock", async () => {
  const cond = new Condition();
  await cond.acquire();
  await assert.rejects(cond.wait({ signal: aborted() }), isReason);
  assert.equal(cond.lock.locked(), true);
  cond.release();
});

Deno.test("aborted signal: receive with a queued message rejects and the message stays", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      await assert.rejects(task.receive({ signal: aborted() }), isReason);
      return await task.receive({ timeout: 0, alarmValue: "lost" });
    });
    t.send("kept");
    assert.equal(await t.finish(), "kept");
  });
});

Deno.test("aborted signal: sleep(0), deliver, finish and join reject", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      await assert.rejects(task.sleep(0, "yielded", { signal: aborted() }), isReason);
      return "done";
    });
    assert.equal(await t.finish(), "done");
    await assert.rejects(t.finish({ signal: aborted() }), isReason);
    await assert.rejects(s.join({ signal: aborted() }), isReason);
    const live = s.spawn(async (task) => await task.receive());
    await assert.rejects(live.deliver("x", { signal: aborted() }), isReason);
    assert.equal(live.pending, 0);
    live.send("stop");
    assert.equal(await live.finish(), "stop");
  });
});

Deno.test("aborted signal: channel subscribe and deliver reject and change nothing", async () => {
  await withScheduler(async (s) => {
    const channel = new Channel("aborted-signal");
    const t = s.spawn(async (task) => await task.receive());
    await assert.rejects(channel.subscribe(t, { signal: aborted() }), isReason);
    assert.equal(channel.send("nobody"), 0);
    await channel.subscribe(t);
    await assert.rejects(channel.deliver("x", { signal: aborted() }), isReason);
    channel.send("hello");
    assert.equal(await t.finish(), "hello");
    channel.close();
  });
});

Deno.test("aborted signal: receive({ timeout: 0 }) rejects even on an empty mailbox", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      return await task.receive({ timeout: 0, signal: aborted(), alarmValue: "polled" }).then(
        (v) => ["resolved", v],
        (e) => ["rejected", isReason(e)],
      );
    });
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["rejected", true]);
  });
});

Deno.test("aborted signal: scheduler.join({ timeout: 0 }) rejects while tasks run", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn((task) => task.receive());
    await assert.rejects(s.join({ timeout: 0, signal: aborted() }), isReason);
    t.send("stop");
    await t.finish({ timeout: LIMIT });
  });
});
