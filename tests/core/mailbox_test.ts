import assert from "node:assert/strict";
import { Event } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("messages sent before receive are queued and received oldest first", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
      return [await task.receive(), await task.receive(), await task.receive()];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.send(1), true);
    assert.equal(t.send(2), true);
    assert.equal(t.send(3), true);
    assert.equal(t.pending, 3);
    assert.equal(t.resume(), true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [1, 2, 3]);
  });
});

Deno.test("send wakes a task waiting in receive", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      return await task.receive();
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "receiving");
    t.send("hello");
    assert.equal(await t.finish({ timeout: LIMIT }), "hello");
  });
});

Deno.test("messages from one sender arrive in the order sent, per sender", async () => {
  await withScheduler(async (s) => {
    const N = 200;
    const receiver = s.spawn(async (task) => {
      const got = new Map<string, number[]>();
      for (let i = 0; i < 3 * N; i++) {
        const [from, n] = await task.receive<[string, number]>();
        if (!got.has(from)) got.set(from, []);
        got.get(from)!.push(n);
      }
      return got;
    });
    const sender = async (task: { sleep(ms: number): Promise<unknown> }, from: string) => {
      for (let i = 0; i < N; i++) {
        receiver.send([from, i]);
        // Interleave the senders, and sometimes send several in a row.
        if (i % 7 === 0) await task.sleep(0);
      }
    };
    s.spawn(sender, "a");
    s.spawn(sender, "b");
    s.spawn(sender, "c");
    const got = await receiver.finish({ timeout: LIMIT });
    const expected = Array.from({ length: N }, (_, i) => i);
    for (const from of ["a", "b", "c"]) assert.deepEqual(got.get(from), expected);
  });
});

Deno.test("receive with a timeout resolves alarmValue (default undefined)", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => [
      await task.receive({ timeout: 1, alarmValue: "nothing" }),
      await task.receive({ timeout: 1 }),
      await task.receive({ timeout: 0, alarmValue: "polled" }),
    ]);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["nothing", undefined, "polled"]);
  });
});

Deno.test("receive with a timeout returns a message that arrives in time", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      return await task.receive({ timeout: LIMIT, alarmValue: "timed out" });
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    t.send("in time");
    assert.equal(await t.finish({ timeout: LIMIT }), "in time");
  });
});

Deno.test("receive with timeout 0 takes a queued message", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      task.send("queued");
      return await task.receive({ timeout: 0, alarmValue: "none" });
    });
    assert.equal(await t.finish({ timeout: LIMIT }), "queued");
  });
});

Deno.test("receive with a signal rejects with the signal's reason", async () => {
  await withScheduler(async (s) => {
    const ac = new AbortController();
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      try {
        await task.receive({ signal: ac.signal });
      } catch (e) {
        // The task can go on receiving after the abort.
        return [e, await task.receive({ timeout: LIMIT })];
      }
      return "not aborted";
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    const reason = new Error("cancelled");
    ac.abort(reason);
    t.send("after");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [reason, "after"]);
  });
});

Deno.test("messages() iterates received messages; a timeout ends the loop", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      const got: unknown[] = [];
      for await (const m of task.messages({ timeout: 20 })) got.push(m);
      return got;
    });
    t.send("a");
    t.send("b");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["a", "b"]);
  });
});

Deno.test("messages() can be left early with break", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      const got: unknown[] = [];
      for await (const m of task.messages()) {
        if (m === "stop") break;
        got.push(m);
      }
      return [got, await task.receive()];
    });
    for (const m of [1, 2, "stop", "rest"]) t.send(m);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [[1, 2], "rest"]);
  });
});

Deno.test("undefined, null and objects are messages like any other", async () => {
  await withScheduler(async (s) => {
    const obj = { k: 1 };
    const t = s.spawn(async (task) => [
      await task.receive({ timeout: LIMIT, alarmValue: "x" }),
      await task.receive({ timeout: LIMIT, alarmValue: "x" }),
      await task.receive({ timeout: LIMIT, alarmValue: "x" }),
    ]);
    t.send(undefined);
    t.send(null);
    t.send(obj);
    const got = await t.finish({ timeout: LIMIT });
    assert.deepEqual(got, [undefined, null, obj]);
    assert.equal(got[2], obj);
  });
});

Deno.test("task.deliver resolves 1 once queued, 0 for an ended task", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.receive());
    assert.equal(await t.deliver("m", { timeout: LIMIT }), 1);
    assert.equal(await t.finish({ timeout: LIMIT }), "m");
    assert.equal(await t.deliver("late"), 0);
  });
});

Deno.test("send and deliver to an ended task, however it ended, drop the message", async () => {
  await withScheduler(async (s) => {
    const finished = s.spawn(() => "done");
    const failed = s.spawn(() => {
      throw new Error("x");
    });
    const terminated = s.spawn(async (task) => await task.sleep());
    terminated.terminate();
    await finished.finish();
    await assert.rejects(failed.finish());
    await assert.rejects(terminated.finish());
    for (const t of [finished, failed, terminated]) {
      assert.equal(t.send("late"), false, t.state);
      assert.equal(await t.deliver("late"), 0, t.state);
      assert.equal(t.pending, 0, t.state);
    }
  });
});

Deno.test("a large burst is received completely and in order", async () => {
  await withScheduler(async (s) => {
    const N = 10_000;
    const t = s.spawn(async (task) => {
      let expected = 0;
      for (let i = 0; i < N; i++) {
        const m = await task.receive<number>();
        if (m !== expected) return `out of order: ${m} after ${expected - 1}`;
        expected++;
      }
      return "ok";
    });
    for (let i = 0; i < N; i++) t.send(i);
    assert.equal(await t.finish({ timeout: LIMIT }), "ok");
  });
});
