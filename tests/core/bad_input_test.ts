/**
 * Bad input gets a clear error at the call that made the mistake: the right
 * class, and a message that names the argument.
 */
import assert from "node:assert/strict";
import {
  BoundedSemaphore,
  Channel,
  Condition,
  Event,
  Lock,
  LockNotHeld,
  RLock,
  Semaphore,
  spawn,
  Task,
} from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

// deno-lint-ignore no-explicit-any
const anyValue = (v: unknown): any => v;

const BAD_TIMEOUTS = [-1, -0.5, NaN, -Infinity, "10", null];

Deno.test("spawn of a non-function throws TypeError naming 'fn'", async () => {
  await withScheduler((s) => {
    for (const bad of [undefined, null, 42, "fn", {}, Promise.resolve()]) {
      assert.throws(() => s.spawn(anyValue(bad)), (e: Error) => {
        assert.ok(e instanceof TypeError, `${e}`);
        assert.match(e.message, /'fn'/);
        return true;
      });
      assert.throws(() => spawn(anyValue(bad)), { name: "TypeError", message: /'fn'/ });
      assert.throws(() => new Task(anyValue(bad)), { name: "TypeError", message: /'fn'/ });
    }
    assert.deepEqual(s.tasks(), []);
  });
});

Deno.test("receive with a negative or NaN timeout rejects with RangeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      const errors: unknown[] = [];
      for (const timeout of BAD_TIMEOUTS) {
        await task.receive({ timeout: anyValue(timeout) }).catch((e) => errors.push(e));
      }
      return errors;
    });
    const errors = await t.finish({ timeout: LIMIT });
    assert.equal(errors.length, BAD_TIMEOUTS.length);
    for (const e of errors) assert.ok(e instanceof RangeError, `${e}`);
  });
});

Deno.test("receive rejects a bad timeout even when a message is queued", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      task.send("queued");
      return await task.receive({ timeout: -1 });
    });
    await assert.rejects(t.finish({ timeout: LIMIT }), RangeError);
  });
});

Deno.test("sleep with a negative or NaN time rejects with RangeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      const errors: unknown[] = [];
      for (const ms of BAD_TIMEOUTS) {
        await task.sleep(anyValue(ms), "slept").catch((e) => errors.push(e));
      }
      return errors;
    });
    const errors = await t.finish({ timeout: LIMIT });
    assert.equal(errors.length, BAD_TIMEOUTS.length);
    for (const e of errors) assert.ok(e instanceof RangeError, `${e}`);
  });
});

Deno.test("acquire with a bad timeout rejects with RangeError, free or busy", async () => {
  const primitives: [string, { acquire(o: object): Promise<boolean>; release(): void }][] = [
    ["Lock", new Lock()],
    ["RLock", new RLock()],
    ["Semaphore", new Semaphore(1)],
    ["BoundedSemaphore", new BoundedSemaphore(1)],
    ["Condition", new Condition()],
  ];
  for (const [name, p] of primitives) {
    for (const timeout of BAD_TIMEOUTS) {
      // Free: the mistake must not go unnoticed just because no wait was needed.
      await assert.rejects(p.acquire({ timeout }), RangeError, `${name} free, ${timeout}`);
    }
    assert.equal(await p.acquire({}), true);
    for (const timeout of BAD_TIMEOUTS) {
      if (name === "RLock" || name === "Condition") continue; // the holder may re-enter
      await assert.rejects(p.acquire({ timeout }), RangeError, `${name} busy, ${timeout}`);
    }
    p.release();
  }
});

Deno.test("hold with a bad timeout rejects with RangeError", async () => {
  await assert.rejects(new Lock().hold({ timeout: -1 }), RangeError);
  await assert.rejects(new Semaphore(1).hold({ timeout: NaN }), RangeError);
});

Deno.test("Event.wait with a bad timeout rejects with RangeError, set or not", async () => {
  const ev = new Event();
  for (const timeout of BAD_TIMEOUTS) {
    await assert.rejects(ev.wait({ timeout: anyValue(timeout) }), RangeError, `unset ${timeout}`);
  }
  ev.set();
  for (const timeout of BAD_TIMEOUTS) {
    await assert.rejects(ev.wait({ timeout: anyValue(timeout) }), RangeError, `set ${timeout}`);
  }
});

Deno.test("Condition.wait with a bad timeout rejects with RangeError and keeps the lock", async () => {
  await withScheduler(async (s) => {
    const cond = new Condition(new Lock());
    const other = new Event();
    const t = s.spawn(async () => {
      await using _held = await cond.hold();
      const errors: unknown[] = [];
      for (const timeout of BAD_TIMEOUTS) {
        await cond.wait({ timeout: anyValue(timeout) }).catch((e) => errors.push(e));
      }
      // Nobody else got the lock in between: a bad call is refused up front.
      return [errors, other.isSet()];
    });
    // A competitor that would grab the lock if wait released it.
    s.spawn(async () => {
      await cond.acquire();
      other.set();
      cond.release();
    });
    const [errors, competitorGotIn] = await t.finish({ timeout: LIMIT }) as [unknown[], boolean];
    assert.equal(errors.length, BAD_TIMEOUTS.length);
    for (const e of errors) assert.ok(e instanceof RangeError, `${e}`);
    assert.equal(competitorGotIn, false);
  });
});

Deno.test("task.finish with a bad timeout rejects with RangeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep());
    for (const timeout of BAD_TIMEOUTS) {
      await assert.rejects(t.finish({ timeout: anyValue(timeout) }), RangeError, `${timeout}`);
    }
    assert.equal(t.resume(), true);
    await t.finish({ timeout: LIMIT });
  });
});

Deno.test("task.finish rejects a bad timeout even when the task has ended", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(() => 1);
    await t.finish();
    await assert.rejects(t.finish({ timeout: -1 }), RangeError);
  });
});

Deno.test("scheduler.finish and join with a bad timeout reject with RangeError", async () => {
  await withScheduler(async (s) => {
    for (const timeout of BAD_TIMEOUTS) {
      await assert.rejects(s.join({ timeout: anyValue(timeout) }), RangeError, `join ${timeout}`);
      await assert.rejects(s.finish({ timeout: anyValue(timeout) }), RangeError, `idle ${timeout}`);
    }
    const t = s.spawn(async (task) => await task.sleep());
    for (const timeout of BAD_TIMEOUTS) {
      await assert.rejects(s.join({ timeout: anyValue(timeout) }), RangeError, `busy ${timeout}`);
      await assert.rejects(s.finish({ timeout: anyValue(timeout) }), RangeError, `busy ${timeout}`);
    }
    // The refused finish did not finish anything.
    assert.equal(s.finished, false);
    assert.equal(t.done, false);
    assert.equal(t.resume(), true);
    await t.finish({ timeout: LIMIT });
  });
});

Deno.test("deliver, subscribe and locate with a bad timeout reject with RangeError", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("bad-timeouts", { scheduler: s });
    const t = s.spawn(async (task) => await task.sleep());
    await assert.rejects(ch.deliver("m", { timeout: -1 }), RangeError);
    await assert.rejects(ch.deliver("m", { n: 1, timeout: NaN }), RangeError);
    await assert.rejects(ch.subscribe(t, { timeout: -1 }), RangeError);
    await assert.rejects(ch.unsubscribe(t, { timeout: NaN }), RangeError);
    await assert.rejects(t.deliver("m", { timeout: -1 }), RangeError);
    await assert.rejects(s.locate("x", { timeout: -1 }), RangeError);
    await assert.rejects(Channel.locate("x", { scheduler: s, timeout: NaN }), RangeError);
    assert.deepEqual(ch.subscribers(), []);
    assert.equal(t.resume(), true);
    await t.finish({ timeout: LIMIT });
  });
});

Deno.test("deliver with a bad n rejects with RangeError", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("bad-n", { scheduler: s });
    for (const n of [-1, 1.5, NaN]) {
      await assert.rejects(ch.deliver("m", { n }), { name: "RangeError", message: /'n'/ });
    }
  });
});

Deno.test("subscribing something that is neither a task nor a channel rejects with TypeError", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("typed", { scheduler: s });
    for (const bad of [undefined, null, 42, "task", {}, { send() {} }, () => {}]) {
      await assert.rejects(ch.subscribe(anyValue(bad)), (e: Error) => {
        assert.ok(e instanceof TypeError, `${e}`);
        assert.match(e.message, /'subscriber'/);
        return true;
      });
      await assert.rejects(ch.unsubscribe(anyValue(bad)), TypeError);
    }
    assert.deepEqual(ch.subscribers(), []);
  });
});

Deno.test("bad Channel constructor arguments throw TypeError", async () => {
  await withScheduler((s) => {
    assert.throws(() => new Channel(anyValue(""), { scheduler: s }), TypeError);
    assert.throws(() => new Channel(anyValue(7), { scheduler: s }), TypeError);
    assert.throws(
      () => new Channel("x", { scheduler: s, transform: anyValue("not a function") }),
      { name: "TypeError", message: /'transform'/ },
    );
    const ch = new Channel("x", { scheduler: s });
    assert.throws(() => ch.setTransform(anyValue(3)), TypeError);
  });
});

Deno.test("releasing a lock that is not held throws LockNotHeld", () => {
  assert.throws(() => new Lock().release(), LockNotHeld);
  assert.throws(() => new RLock().release(), LockNotHeld);
  assert.throws(() => new BoundedSemaphore(1).release(), LockNotHeld);
  assert.throws(() => new Condition().release(), LockNotHeld);
  assert.throws(() => new Condition(new Lock()).release(), LockNotHeld);
});

Deno.test("bad Semaphore values throw RangeError", () => {
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => new Semaphore(bad), RangeError, `${bad}`);
    assert.throws(() => new BoundedSemaphore(bad), RangeError, `${bad}`);
  }
});

Deno.test("register with an empty or non-string name throws TypeError", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.receive());
    assert.throws(() => t.register(""), TypeError);
    assert.throws(() => t.register(anyValue(5)), TypeError);
    t.send("stop");
    await t.finish({ timeout: LIMIT });
  });
});
