import assert from "node:assert/strict";
import { Event } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("resume wakes a sleeping task with the value", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep();
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "suspended");
    assert.equal(t.resume("value"), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "value");
  });
});

Deno.test("resume wakes a timed sleep early with the value, not the alarm", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      return await task.sleep(LIMIT, "alarm");
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume("early"), true);
    assert.equal(await t.finish({ timeout: LIMIT }), "early");
  });
});

Deno.test("resume on a task that is receiving returns false and is not remembered", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      const m = await task.receive();
      asleep.set();
      // A remembered resume would end this sleep at once with "lost".
      const v = await task.sleep();
      return [m, v];
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume("lost"), false);
    t.send("go");
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "suspended");
    assert.equal(t.resume("kept"), true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["go", "kept"]);
  });
});

Deno.test("resume before the task started returns false and a later sleep still waits", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => await task.sleep(1, "alarm"));
    assert.equal(t.resume("too early"), false);
    assert.equal(await t.finish({ timeout: LIMIT }), "alarm");
  });
});

Deno.test("resume of a running task (itself) returns false; its next sleep still waits", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task) => {
      const r = task.resume("self");
      return [r, await task.sleep(1, "alarm")];
    });
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [false, "alarm"]);
  });
});

Deno.test("resume of an ended task returns false", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(() => 1);
    await t.finish();
    assert.equal(t.resume(), false);
  });
});

Deno.test("send does not wake sleep: the message stays queued and is received after", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      const v = await task.sleep();
      const m = await task.receive({ timeout: 0, alarmValue: "no message" });
      return [v, m];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    assert.equal(t.send("msg"), true);
    // Still asleep: if send had woken it, resume would find nothing to wake.
    assert.equal(t.state, "suspended");
    assert.equal(t.pending, 1);
    assert.equal(t.resume("resumed"), true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["resumed", "msg"]);
  });
});

Deno.test("send does not end a timed sleep early", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      const v = await task.sleep(5, "alarm");
      return [v, await task.receive({ timeout: 0 })];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    t.send("msg");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["alarm", "msg"]);
  });
});

Deno.test("resume does not wake receive", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      return await task.receive();
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume("not a message"), false);
    assert.equal(t.state, "receiving");
    t.send("message");
    assert.equal(await t.finish({ timeout: LIMIT }), "message");
  });
});

Deno.test("resume does not end a timed receive with its value", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      receiving.set();
      return await task.receive({ timeout: 5, alarmValue: "alarm" });
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume("resumed"), false);
    assert.equal(await t.finish({ timeout: LIMIT }), "alarm");
  });
});

Deno.test("many tasks sleep and are resumed each with its own value", async () => {
  await withScheduler(async (s) => {
    const N = 1000;
    let asleep = 0;
    const all = new Event();
    const tasks = Array.from({ length: N }, () =>
      s.spawn(async (task) => {
        if (++asleep === N) all.set();
        return await task.sleep();
      }));
    assert.equal(await all.wait({ timeout: LIMIT }), true);
    tasks.forEach((t, i) => assert.equal(t.resume(i), true));
    const results = await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.deepEqual(results, Array.from({ length: N }, (_, i) => i));
  });
});
