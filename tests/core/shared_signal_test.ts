/**
 * Many waits sharing one `AbortSignal` cost O(n) in total: the signal gets
 * one listener however many waits use it, an abort settles them all with its
 * reason, and a wait that ends otherwise leaves that listener alone.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Event, Lock } from "../../mod.ts";
import { watchAbort } from "../../src/core/_abort_watch.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** A controller whose signal counts the listeners added and removed. */
function countingController(): {
  controller: AbortController;
  added: () => number;
  removed: () => number;
} {
  const controller = new AbortController();
  const signal = controller.signal;
  let added = 0;
  let removed = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal["addEventListener"]>) => {
    added++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal["removeEventListener"]>) => {
    removed++;
    remove(...args);
  };
  return { controller, added: () => added, removed: () => removed };
}

const N = 1000;

Deno.test("shared signal: one listener for N waits, all reject with the reason", async () => {
  await withScheduler(async (s) => {
    const { controller, added } = countingController();
    const event = new Event();
    const reason = new Error("stop all");
    const outside = Array.from({ length: N }, () => event.wait({ signal: controller.signal }));
    const inTasks = Array.from(
      { length: N },
      () => s.spawn(() => event.wait({ signal: controller.signal })),
    );
    const started = new Event();
    s.spawn(() => started.set());
    assert.equal(await started.wait({ timeout: LIMIT }), true);
    assert.equal(added(), 1);
    controller.abort(reason);
    const results = await Promise.allSettled([...outside, ...inTasks.map((t) => t.finish())]);
    assert.equal(results.length, 2 * N);
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.equal((r as PromiseRejectedResult).reason, reason);
    }
  });
});

Deno.test("shared signal: waits that end otherwise do not touch the signal", async () => {
  const { controller, added, removed } = countingController();
  const lock = new Lock();
  await lock.acquire();
  const waits = Array.from({ length: N }, () => lock.acquire({ signal: controller.signal }));
  const timed = Array.from(
    { length: N },
    () => new Event().wait({ timeout: 1, signal: controller.signal }),
  );
  for (let i = 0; i < N; i++) {
    lock.release();
    assert.equal(await waits[i], true);
  }
  assert.deepEqual(new Set(await Promise.all(timed)), new Set([false]));
  assert.equal(added(), 1);
  assert.equal(removed(), 0);
  // Nobody waits any more: the abort settles nothing, and later waits still work.
  controller.abort(new Error("late"));
  await assert.rejects(new Event().wait({ signal: controller.signal }), /late/);
  lock.release();
});

Deno.test("shared signal: watchAbort calls each watcher once, in order, with the reason", () => {
  const controller = new AbortController();
  const seen: string[] = [];
  const watcher = (name: string) => ({
    onAbort(reason: unknown) {
      seen.push(`${name}:${(reason as Error).message}`);
    },
  });
  const a = watcher("a"), b = watcher("b"), c = watcher("c");
  const watch = watchAbort(controller.signal, a);
  assert.equal(watchAbort(controller.signal, b), watch);
  watchAbort(controller.signal, c);
  watch.delete(b);
  controller.abort(new Error("x"));
  assert.deepEqual(seen, ["a:x", "c:x"]);
});
