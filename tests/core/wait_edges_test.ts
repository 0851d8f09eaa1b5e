/**
 * Edge cases of the untimed self-wait (sleep/receive without a Waiter), of
 * waits a task never awaited, and of bounded mailboxes: the interactions the
 * other core tests do not cover.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Channel, Event, Lock, MailboxFull, MonitorStatus, type Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("state is 'suspended' once a receive ends while a Lock wait goes on", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const waiting = new Event();
    const t = s.spawn(async (task) => {
      const acquired = lock.acquire();
      const message = task.receive();
      waiting.set();
      const m = await message;
      await acquired;
      lock.release();
      return m;
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    assert.equal(t.state, "receiving");
    t.send("m");
    assert.equal(t.state, "suspended"); // still waiting on the lock
    lock.release();
    assert.equal(await t.finish({ timeout: LIMIT }), "m");
  });
});

Deno.test("an untimed receive and a Lock wait at once are both rejected by terminate", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const waiting = new Event();
    const outcomes: unknown[] = [];
    const t = s.spawn(async (task) => {
      const both = Promise.allSettled([lock.acquire(), task.receive()]);
      waiting.set();
      for (const r of await both) outcomes.push(r.status);
      return "unreachable";
    });
    assert.equal(await waiting.wait({ timeout: LIMIT }), true);
    assert.equal(t.terminate(), true);
    await assert.rejects(t.finish({ timeout: LIMIT }), { name: "TaskTerminated" });
    assert.deepEqual(outcomes, ["rejected", "rejected"]);
    assert.equal(lock.locked(), true); // not handed to the terminated task
    lock.release();
    assert.equal(lock.locked(), false);
  });
});

Deno.test("a task that returns with an untimed sleep outstanding ends cleanly", async () => {
  await withScheduler(async (s) => {
    const watcher = s.spawn(async (task) => await task.receive());
    const t = s.spawn((task) => {
      void task.sleep(); // never awaited: the task ends while it is pending
      return "done";
    });
    watcher.monitor(t);
    assert.equal(await t.finish({ timeout: LIMIT }), "done");
    assert.equal(t.state, "finished");
    assert.equal(t.resume("late"), false);
    assert.equal(t.send("late"), false);
    const status = await watcher.finish({ timeout: LIMIT });
    assert.ok(status instanceof MonitorStatus);
    assert.equal(status.type, "finished");
  });
});

Deno.test("throw into an untimed sleep; the task's next untimed receive still waits for a message", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const receiving = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      const e = await task.sleep().catch((e) => e);
      receiving.set();
      return [e, task.state, await task.receive()];
    });
    assert.equal(await asleep.wait({ timeout: LIMIT }), true);
    const err = new Error("wake up");
    assert.equal(t.throw(err), true);
    assert.equal(t.state, "running");
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    assert.equal(t.resume(), false); // it receives now, resume must not wake it
    assert.equal(t.state, "receiving");
    t.send("m");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [err, "running", "m"]);
  });
});

Deno.test("hotSwap out of an untimed receive: a message sent at once goes to the new function", async () => {
  await withScheduler(async (s) => {
    const receiving = new Event();
    const t = s.spawn(async function v1(task: Task): Promise<unknown> {
      task.hotSwappable();
      receiving.set();
      return ["v1", await task.receive()];
    });
    assert.equal(await receiving.wait({ timeout: LIMIT }), true);
    const accepted = t.hotSwap(async function v2(task: Task) {
      return ["v2", await task.receive(), await task.receive()];
    });
    // The old receive has been rejected already: these must queue, not vanish.
    assert.equal(t.state, "running");
    t.send("a");
    t.send("b");
    assert.equal(await accepted, true);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["v2", "a", "b"]);
  });
});

Deno.test("Channel.deliver with n counts only the subscribers whose mailbox took the message", async () => {
  const channel = new Channel("edges-deliver");
  await withScheduler(async (s) => {
    const full = s.spawn((task) => task.sleep());
    const free = s.spawn(async (task) => await task.receive());
    full.send("filler");
    assert.throws(() => full.send("more"), MailboxFull);
    const delivered = channel.deliver("news", { n: 2, timeout: LIMIT });
    await channel.subscribe(full);
    await channel.subscribe(free);
    assert.equal(await delivered, 1);
    assert.equal(await free.finish({ timeout: LIMIT }), "news");
    assert.equal(full.pending, 1);
  }, { mailboxLimit: 1 }).finally(() => channel.close());
});

Deno.test("a task that ends with a timed sleep pending leaves no timer behind", async () => {
  // Deno's sanitizers do not catch a leaked timer, but a live timer keeps a
  // program running: a program whose task ends with a 60 s sleep pending
  // must exit at once.
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const code = `import { spawn } from "${mod}";
    const t = spawn((task) => { task.sleep(60_000); return "ended"; });
    console.log(await t.finish());`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: new URL("../..", import.meta.url),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLong = new Promise<"too long">((resolve) => {
    timer = setTimeout(() => resolve("too long"), LIMIT);
  });
  const output = child.output();
  const first = await Promise.race([output, tooLong]);
  clearTimeout(timer);
  if (first === "too long") {
    child.kill();
    await output;
    assert.fail("the program did not exit: the sleep's timer outlived its task");
  }
  assert.equal(first.code, 0);
  assert.equal(new TextDecoder().decode(first.stdout).trim(), "ended");
});

Deno.test("a lock acquire a task never awaited is dropped when it ends; the lock stays usable", async () => {
  await withScheduler(async (s) => {
    const lock = new Lock();
    await lock.acquire();
    const t = s.spawn(() => {
      lock.acquire(); // queued behind the holder, never awaited
      return "ended";
    });
    assert.equal(await t.finish(), "ended");
    lock.release();
    assert.equal(lock.locked(), false, "the lock went to an ended task");
    assert.equal(await lock.acquire({ timeout: 0 }), true);
    lock.release();
  });
});

// Last in this file: without the fix its uncaught MailboxFull cancels the tests after it.
Deno.test("a monitor whose mailbox is full does not break the watched task's ending", async () => {
  await withScheduler(async (s) => {
    const full = s.spawn(async function full(task) {
      await task.sleep(); // its mailbox stays full meanwhile
      return [await task.receive(), await task.receive({ timeout: 0, alarmValue: "none" })];
    });
    const other = s.spawn(async function other(task) {
      return await task.receive();
    });
    const watched = s.spawn(async function watched(task) {
      return await task.receive();
    });
    full.monitor(watched);
    other.monitor(watched);
    full.send("filler");
    const finished = watched.finish({ timeout: LIMIT });
    watched.send("go");
    assert.equal(await finished, "go");
    const status = await other.finish({ timeout: LIMIT });
    assert.ok(status instanceof MonitorStatus);
    assert.equal(status.type, "finished");
    full.resume();
    await full.finish({ timeout: LIMIT });
  }, { mailboxLimit: 1 });
});
