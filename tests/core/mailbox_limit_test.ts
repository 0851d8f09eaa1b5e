/**
 * Mailboxes are bounded (DESIGN.md §1.3): past the scheduler's
 * `mailboxLimit`, `send` throws `MailboxFull`, `deliver` rejects with it, and
 * nothing already queued is lost; a channel skips the full subscriber and
 * still reaches the others.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Channel, DEFAULT_MAILBOX_LIMIT, Event, MailboxFull, Scheduler } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

Deno.test("mailbox limit: send past the limit throws MailboxFull; queued messages survive", async () => {
  await withScheduler(async (s) => {
    const tookOne = new Event();
    const t = s.spawn(async function collector(task) {
      await task.sleep(); // lets the sender fill the mailbox first
      const got = [await task.receive()];
      tookOne.set();
      for (let i = 0; i < 2; i++) got.push(await task.receive());
      got.push(await task.receive()); // the one sent after room was made
      return got;
    });
    for (const m of [1, 2, 3]) assert.equal(t.send(m), true);
    assert.throws(() => t.send(4), (e) => {
      assert.ok(e instanceof MailboxFull);
      assert.equal(e.taskName, "collector");
      assert.equal(e.limit, 3);
      assert.match(e.message, /collector.*full.*3/);
      return true;
    });
    await assert.rejects(t.deliver(4), MailboxFull);
    assert.equal(t.pending, 3);
    t.resume();
    // Once the task has taken a message there is room again.
    assert.equal(await tookOne.wait({ timeout: LIMIT }), true);
    assert.equal(t.send(5), true);
    assert.deepEqual(await t.finish(), [1, 2, 3, 5]);
  }, { mailboxLimit: 3 });
});

Deno.test("mailbox limit: a channel skips a full subscriber and reaches the rest", async () => {
  const channel = new Channel("mailbox-limit");
  await withScheduler(async (s) => {
    const full = s.spawn((task) => task.sleep());
    const free = s.spawn(async (task) => await task.receive());
    await channel.subscribe(full);
    await channel.subscribe(free);
    full.send("already there");
    assert.equal(channel.send("news"), 1);
    assert.equal(await free.finish(), "news");
    assert.equal(full.pending, 1);
  }, { mailboxLimit: 1 }).finally(() => channel.close());
});

Deno.test("mailbox limit: default and bad values", () => {
  assert.equal(new Scheduler().mailboxLimit, DEFAULT_MAILBOX_LIMIT);
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new Scheduler({ mailboxLimit: bad }), RangeError);
  }
});
