import assert from "node:assert/strict";
import {
  Channel,
  Condition,
  Event,
  Lock,
  RLock,
  type Scheduler,
  Semaphore,
  type Task,
  TaskTerminated,
} from "../../mod.ts";
import { LIMIT, terminateWhileWaiting, withScheduler } from "./_util.ts";

Deno.test("terminate: a sleeping task's finally runs and finish rejects with TaskTerminated", async () => {
  await withScheduler(async (s) => {
    await terminateWhileWaiting(s, (task) => task.sleep());
  });
});

Deno.test("terminate: a task in a timed sleep ends at once", async () => {
  await withScheduler(async (s) => {
    await terminateWhileWaiting(s, (task) => task.sleep(10 * LIMIT));
  });
});

Deno.test("terminate: a receiving task's finally runs", async () => {
  await withScheduler(async (s) => {
    await terminateWhileWaiting(s, (task) => task.receive());
  });
});

Deno.test("terminate: a task waiting on a Lock; the lock is not handed to it afterwards", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    assert.equal(await lock.acquire(), true);
    await terminateWhileWaiting(s, () => lock.acquire());
    lock.release();
    assert.equal(lock.locked(), false);
  });
});

Deno.test("terminate: a task waiting on an RLock and on a Semaphore", async () => {
  await withScheduler(async (s) => {
    const rlock = new RLock();
    assert.equal(await rlock.acquire(), true);
    await terminateWhileWaiting(s, () => rlock.acquire());
    rlock.release();
    assert.equal(rlock.locked(), false);

    const sem = new Semaphore(0);
    await terminateWhileWaiting(s, () => sem.acquire());
    sem.release();
    assert.equal(sem.value, 1);
  });
});

Deno.test("terminate: a task waiting on an Event", async () => {
  await withScheduler(async (s) => {
    const ev = new Event();
    await terminateWhileWaiting(s, () => ev.wait());
  });
});

Deno.test("terminate: a task in Condition.wait takes the lock back and its using block releases it", async () => {
  await withScheduler(async (s) => {
    const cond = new Condition(new Lock());
    let heldInFinally: boolean | undefined;
    await terminateWhileWaiting(s, async () => {
      await using _held = await cond.hold();
      try {
        await cond.wait();
      } finally {
        heldInFinally = cond.lock.locked();
      }
    });
    assert.equal(heldInFinally, true);
    assert.equal(cond.lock.locked(), false);
  });
});

Deno.test("terminate: a task in Condition.wait over an RLock", async () => {
  await withScheduler(async (s) => {
    const cond = new Condition();
    await terminateWhileWaiting(s, async () => {
      await using _held = await cond.hold();
      await cond.wait();
    });
    assert.equal(cond.lock.locked(), false);
  });
});

Deno.test("terminate: a task waiting in finish() of another task", async () => {
  await withScheduler(async (s) => {
    const other = s.spawn(async (task) => await task.sleep());
    await terminateWhileWaiting(s, () => other.finish());
    // The other task is unaffected.
    assert.equal(other.done, false);
    assert.equal(other.resume("ok"), true);
    assert.equal(await other.finish({ timeout: LIMIT }), "ok");
  });
});

Deno.test("terminate: a task waiting in Channel.deliver with n", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("terminate-deliver", { scheduler: s });
    await terminateWhileWaiting(s, () => ch.deliver("m", { n: 1 }));
    // A later subscriber must not get the abandoned message.
    const sub = s.spawn(async (task) => await task.receive({ timeout: 0, alarmValue: "none" }));
    await ch.subscribe(sub);
    assert.equal(await sub.finish({ timeout: LIMIT }), "none");
  });
});

Deno.test("terminate: a task waiting in scheduler.join", async () => {
  await withScheduler(async (s) => {
    const other = s.spawn(async (task) => await task.sleep());
    await terminateWhileWaiting(s, () => s.join());
    assert.equal(other.resume(), true);
    await other.finish({ timeout: LIMIT });
  });
});

Deno.test("terminate: a lock held with await using is released on the way out", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await terminateWhileWaiting(s, async (task) => {
      await using _held = await lock.hold();
      await task.sleep();
    });
    assert.equal(lock.locked(), false);
  });
});

Deno.test("terminate of a task that has not started yet: its function never runs", async () => {
  await withScheduler(async (s) => {
    let ran = false;
    const t = s.spawn(() => {
      ran = true;
    });
    assert.equal(t.state, "ready");
    assert.equal(t.terminate(), true);
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
    assert.equal(ran, false);
    assert.equal(t.state, "terminated");
  });
});

Deno.test("terminate of an ended task returns false and changes nothing", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(() => "result");
    await t.finish();
    assert.equal(t.terminate(), false);
    assert.equal(t.state, "finished");
    assert.equal(await t.finish(), "result");
  });
});

/** Tries every kind of wait in turn and records how each one ended. */
async function tryEveryWait(s: Scheduler, task: Task, outcomes: string[]): Promise<void> {
  const lock = new Lock();
  const rlock = new RLock();
  const sem = new Semaphore(5);
  const ev = new Event();
  ev.set();
  const cond = new Condition();
  const ch = new Channel("later-waits", { scheduler: s });
  const other = s.spawn(async (t) => await t.sleep());
  task.send("queued"); // a queued message must not let receive through
  const attempts: [string, () => Promise<unknown>][] = [
    ["sleep", () => task.sleep(LIMIT, "slept")],
    ["sleep(0)", () => task.sleep(0, "slept")],
    ["receive", () => task.receive({ timeout: LIMIT, alarmValue: "received" })],
    ["free lock", () => lock.acquire({ timeout: LIMIT })],
    ["free rlock", () => rlock.acquire({ timeout: LIMIT })],
    ["free semaphore", () => sem.acquire({ timeout: LIMIT })],
    ["set event", () => ev.wait({ timeout: LIMIT })],
    ["condition", () => cond.acquire({ timeout: LIMIT })],
    ["deliver n", () => ch.deliver("m", { n: 1, timeout: LIMIT })],
    ["finish", () => other.finish({ timeout: LIMIT })],
    ["join", () => s.join({ timeout: LIMIT })],
  ];
  for (const [what, attempt] of attempts) {
    try {
      const v = await attempt();
      outcomes.push(`${what}: resolved ${String(v)}`);
    } catch (e) {
      outcomes.push(`${what}: ${e instanceof TaskTerminated ? "TaskTerminated" : String(e)}`);
    }
  }
  other.terminate();
  assert.equal(lock.locked(), false);
  assert.equal(rlock.locked(), false);
  assert.equal(sem.value, 5);
}

const ALL_TERMINATED = [
  "sleep: TaskTerminated",
  "sleep(0): TaskTerminated",
  "receive: TaskTerminated",
  "free lock: TaskTerminated",
  "free rlock: TaskTerminated",
  "free semaphore: TaskTerminated",
  "set event: TaskTerminated",
  "condition: TaskTerminated",
  "deliver n: TaskTerminated",
  "finish: TaskTerminated",
  "join: TaskTerminated",
];

Deno.test("after terminate every later wait rejects at once with TaskTerminated", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const outcomes: string[] = [];
    const t = s.spawn(async (task) => {
      try {
        asleep.set();
        await task.sleep();
      } catch {
        // Swallow the first rejection and try to carry on.
      }
      await tryEveryWait(s, task, outcomes);
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    t.terminate();
    await assert.rejects(t.finish({ timeout: 3 * LIMIT }), TaskTerminated);
    assert.deepEqual(outcomes, ALL_TERMINATED);
  });
});

Deno.test("a task terminated while running: every wait it tries rejects with TaskTerminated", async () => {
  await withScheduler(async (s) => {
    const outcomes: string[] = [];
    const t = s.spawn(async (task) => {
      task.terminate();
      await tryEveryWait(s, task, outcomes);
    });
    await assert.rejects(t.finish({ timeout: 3 * LIMIT }), TaskTerminated);
    assert.deepEqual(outcomes, ALL_TERMINATED);
  });
});

Deno.test("a task that swallows TaskTerminated and returns still ends as terminated", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      try {
        asleep.set();
        await task.sleep();
      } catch {
        return "swallowed";
      }
      return "woken";
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    t.terminate();
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
    assert.equal(t.state, "terminated");
  });
});

Deno.test("task.signal aborts with TaskTerminated on terminate", async () => {
  await withScheduler(async (s) => {
    const started = new Event();
    let signal: AbortSignal | undefined;
    const t = s.spawn(async (task) => {
      signal = task.signal;
      assert.equal(signal.aborted, false);
      // Wait on something outside denocos that only the signal can stop.
      await new Promise((_resolve, reject) => {
        task.signal.addEventListener("abort", () => reject(task.signal.reason), { once: true });
        started.set();
      });
    });
    assert.equal(await started.wait({ timeout: LIMIT }), true);
    t.terminate();
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
    assert.ok(signal?.aborted);
    assert.ok(signal?.reason instanceof TaskTerminated);
  });
});

Deno.test("task.signal read after terminate is already aborted", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep());
    t.terminate();
    assert.equal(t.signal.aborted, true);
    assert.ok(t.signal.reason instanceof TaskTerminated);
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
  });
});

Deno.test("a task blocked outside denocos ends at its next denocos wait after terminate", async () => {
  await withScheduler(async (s) => {
    let unblock!: () => void;
    const blocked = new Promise<void>((r) => (unblock = r));
    const started = new Event();
    let after = "";
    const t = s.spawn(async (task) => {
      started.set();
      await blocked;
      after = "continued";
      await task.sleep(0);
      after = "slept";
    });
    assert.equal(await started.wait({ timeout: LIMIT }), true);
    t.terminate();
    assert.equal(t.done, false);
    unblock();
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
    assert.equal(after, "continued");
  });
});

Deno.test("a task can terminate itself: its next wait rejects", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      task.terminate();
      await task.sleep(0);
      return "not reached";
    });
    await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
  });
});

Deno.test("throw(error) makes the current wait reject with that error; the task can go on", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      let caught: unknown;
      try {
        receiving.set();
        await task.receive();
      } catch (e) {
        caught = e;
      }
      return [caught, await task.receive({ timeout: LIMIT })];
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    const err = new Error("thrown in");
    assert.equal(t.throw(err), true);
    t.send("next");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [err, "next"]);
  });
});

Deno.test("throw(error) into a task waiting on a Lock rejects that wait", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const waiting = new Event();
    const t = s.spawn(async () => {
      waiting.set();
      await lock.acquire();
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    t.throw(new RangeError("go away"));
    await assert.rejects(t.finish({ timeout: LIMIT }), RangeError);
    lock.release();
    assert.equal(lock.locked(), false);
  });
});

Deno.test("throw(error) on a running task makes its next wait reject, once", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      task.throw("thrown value");
      let first: unknown;
      try {
        await task.sleep(0);
      } catch (e) {
        first = e;
      }
      const second = await task.sleep(0, "second ok");
      return [first, second];
    });
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["thrown value", "second ok"]);
  });
});

Deno.test("an uncaught thrown error fails the task; throw on an ended task returns false", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    t.throw(new Error("fatal"));
    await assert.rejects(t.finish({ timeout: LIMIT }), { message: "fatal" });
    assert.equal(t.state, "failed");
    assert.equal(t.throw(new Error("again")), false);
  });
});
