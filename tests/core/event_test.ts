import assert from "node:assert/strict";
import { Event } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("set wakes every waiter with true", async () => {
  await withScheduler(async (s) => {
    const ev = new Event();
    const started = new Event();
    let n = 0;
    const tasks = Array.from({ length: 5 }, () =>
      s.spawn(async () => {
        if (++n === 5) started.set();
        return await ev.wait();
      }));
    assert.equal(await started.wait({ timeout: LIMIT }), true);
    assert.equal(ev.isSet(), false);
    ev.set();
    assert.equal(ev.isSet(), true);
    assert.deepEqual(await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT }))), [
      true,
      true,
      true,
      true,
      true,
    ]);
  });
});

Deno.test("wait on a set event resolves true at once, even with timeout 0", async () => {
  const ev = new Event();
  ev.set();
  assert.equal(await ev.wait(), true);
  assert.equal(await ev.wait({ timeout: 0 }), true);
  ev.set(); // setting again is harmless
  assert.equal(ev.isSet(), true);
});

Deno.test("clear resets the flag: later waits block again", async () => {
  const ev = new Event();
  ev.set();
  ev.clear();
  assert.equal(ev.isSet(), false);
  assert.equal(await ev.wait({ timeout: 0 }), false);
  assert.equal(await ev.wait({ timeout: 1 }), false);
});

Deno.test("wait with a timeout resolves false when nobody sets the event", async () => {
  await withScheduler(async (s) => {
    const ev = new Event();
    const t = s.spawn(() => ev.wait({ timeout: 1 }));
    assert.equal(await t.finish({ timeout: LIMIT }), false);
    // The timed-out waiter is gone: setting later changes nothing for it.
    ev.set();
    assert.equal(await ev.wait({ timeout: 0 }), true);
  });
});

Deno.test("waiters woken by set resolve true even if the event is cleared right after", async () => {
  await withScheduler(async (s) => {
    const ev = new Event();
    const waiting = new Event();
    const t = s.spawn(async () => {
      waiting.set();
      return await ev.wait({ timeout: LIMIT });
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    ev.set();
    ev.clear();
    assert.equal(await t.finish({ timeout: LIMIT }), true);
  });
});

Deno.test("wait with a signal rejects with the signal's reason", async () => {
  const ev = new Event();
  const ac = new AbortController();
  const pending = ev.wait({ signal: ac.signal });
  const reason = new Error("not any more");
  ac.abort(reason);
  await assert.rejects(pending, (e) => e === reason);
  await assert.rejects(ev.wait({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
});

Deno.test("outside code can wait on an event a task sets", async () => {
  await withScheduler(async (s) => {
    const ev = new Event();
    s.spawn(async (task) => {
      await task.sleep(1);
      ev.set();
    });
    assert.equal(await ev.wait({ timeout: LIMIT }), true);
  });
});
