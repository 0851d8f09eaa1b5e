/**
 * Mailboxes are bounded by bytes too: messages whose size is known cheaply
 * (`ArrayBuffer`s and their views, strings) count against the scheduler's
 * `mailboxBytes`, so a runaway sender of buffers fails with `MailboxFull`
 * long before the heap does; receiving gives the bytes back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DEFAULT_MAILBOX_BYTES, Event, MailboxFull, Scheduler, type Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** Resolves once `task` has set `asleep` and (in the same turn) gone to sleep. */
async function whenAsleep(asleep: Event, task: Task): Promise<void> {
  assert.equal(await asleep.wait({ timeout: LIMIT }), true);
  asleep.clear();
  assert.equal(task.state, "suspended");
}

Deno.test("mailbox bytes: a runaway sender of 64-byte arrays stops at the byte budget", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async function sink(task) {
      asleep.set();
      await task.sleep();
      let n = 0;
      while (await task.receive({ timeout: 0 }) !== undefined) n++;
      return n;
    });
    await whenAsleep(asleep, t);
    let sent = 0;
    const err = (() => {
      try {
        for (;;) {
          t.send(new Uint8Array(64));
          sent++;
        }
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof MailboxFull);
    assert.equal(err.unit, "bytes");
    assert.equal(err.limit, 64 * 1024);
    assert.match(err.message, /sink.*65536 bytes/);
    assert.equal(sent, 1024);
    assert.equal(t.pending, 1024);
    // Other values are not sized: the count limit still applies to them.
    assert.equal(t.send(12345), true);
    assert.equal(t.send({ big: "object" }), true);
    t.resume();
    assert.equal(await t.finish({ timeout: LIMIT }), 1026);
  }, { mailboxBytes: 64 * 1024 });
});

Deno.test("mailbox bytes: strings, ArrayBuffers and views count; receiving frees room", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
      const first = await task.receive();
      asleep.set();
      await task.sleep();
      return first;
    });
    await whenAsleep(asleep, t);
    assert.equal(t.send("x".repeat(40)), true); // 40
    assert.equal(t.send(new ArrayBuffer(30)), true); // 70
    assert.equal(t.send(new DataView(new ArrayBuffer(100), 0, 20)), true); // 90
    assert.throws(() => t.send(new Float64Array(2)), MailboxFull); // 90 + 16 > 100
    assert.equal(t.send(new Uint8Array(10)), true); // 100: exactly full
    assert.throws(() => t.send("y"), MailboxFull);
    t.resume();
    // The task took the 40-character string: room for 40 more bytes.
    await whenAsleep(asleep, t);
    assert.equal(t.send(new Uint8Array(40)), true);
    assert.throws(() => t.send(new Uint8Array(1)), MailboxFull);
    t.resume();
    assert.equal(await t.finish({ timeout: LIMIT }), "x".repeat(40));
  }, { mailboxBytes: 100 });
});

Deno.test("mailbox bytes: one message larger than the budget goes into an empty mailbox", async () => {
  await withScheduler(async (s) => {
    const asleep = new Event();
    const t = s.spawn(async (task) => {
      asleep.set();
      await task.sleep();
      return (await task.receive<Uint8Array>()).length;
    });
    await whenAsleep(asleep, t);
    assert.equal(t.send(new Uint8Array(500)), true);
    assert.throws(() => t.send(new Uint8Array(1)), MailboxFull);
    t.resume();
    assert.equal(await t.finish({ timeout: LIMIT }), 500);
  }, { mailboxBytes: 100 });
});

Deno.test("mailbox bytes: default and validation", async () => {
  const s = new Scheduler();
  assert.equal(s.mailboxBytes, DEFAULT_MAILBOX_BYTES);
  assert.equal(DEFAULT_MAILBOX_BYTES, 64 * 1024 * 1024);
  assert.equal(new Scheduler({ mailboxBytes: Infinity }).mailboxBytes, Infinity);
  assert.throws(() => new Scheduler({ mailboxBytes: 0 }), RangeError);
  assert.throws(() => new Scheduler({ mailboxBytes: -1 }), RangeError);
  assert.throws(() => new Scheduler({ mailboxBytes: NaN }), RangeError);
  await s.finish();
});
