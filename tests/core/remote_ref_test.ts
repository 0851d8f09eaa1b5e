/**
 * The seam for the network layer: a reference that is not a local `Task` or
 * `Channel` but carries `REMOTE_REF` is accepted by `monitor`, `subscribe` /
 * `unsubscribe` and channel sends. Tested with a fake remote reference.
 *
 * @module
 */
import assert from "node:assert/strict";
import { configure, reset } from "@logtape/logtape";
import {
  Channel,
  MailboxFull,
  MonitorStatus,
  REMOTE_REF,
  type RemoteEndpoint,
  type RemoteReference,
  type Task,
  taskInternals,
} from "../../src/core/_internal.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** A remote reference that records what the core asks of it. */
class FakeRemote implements RemoteReference {
  readonly sent: unknown[] = [];
  readonly watchers: Task[] = [];
  accepting: boolean | "full" = true;
  readonly [REMOTE_REF]: RemoteEndpoint;

  constructor(key = "peer-1/7/42") {
    this[REMOTE_REF] = {
      key,
      send: (message) => {
        if (this.accepting === "full") throw new MailboxFull("remote", 1);
        if (this.accepting) this.sent.push(message);
        return this.accepting;
      },
      deliver: (message) => Promise.resolve(this[REMOTE_REF].send(message) ? 1 : 0),
      addMonitor: (watcher) => void this.watchers.push(watcher),
    };
  }
}

Deno.test("remote ref: monitor registers the watcher; notify reaches it past a full mailbox", async () => {
  await withScheduler(async (s) => {
    const remote = new FakeRemote();
    const watcher = s.spawn(async (task) => {
      task.monitor(remote);
      await task.sleep();
      return [await task.receive(), await task.receive()];
    });
    watcher.send("first");
    // Let the watcher run up to its sleep.
    await s.spawn(() => {}).finish();
    assert.deepEqual(remote.watchers, [watcher]);
    const lost = new Error("peer lost");
    taskInternals.notify(watcher, new MonitorStatus(remote as never, "unreachable", lost));
    watcher.resume();
    const [first, status] = await watcher.finish({ timeout: LIMIT }) as [string, MonitorStatus];
    assert.equal(first, "first");
    assert.equal(status.type, "unreachable");
    assert.equal(status.value, lost);
  }, { mailboxLimit: 1 });
});

Deno.test("remote ref: a channel sends to a remote subscriber, counted once per accepted send", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("mixed", { scheduler: s });
    const sub = new Channel("sub", { scheduler: s });
    const local = s.spawn((task) => task.receive());
    const remote = new FakeRemote("r1"), viaSub = new FakeRemote("r2");
    await ch.subscribe(local);
    await ch.subscribe(remote);
    await ch.subscribe(new FakeRemote("r1")); // same key: the same subscriber
    await ch.subscribe(sub);
    await sub.subscribe(viaSub);
    assert.equal(ch.subscribers().length, 3);
    assert.equal(ch.send("hello"), 3);
    assert.deepEqual(remote.sent, ["hello"]);
    assert.deepEqual(viaSub.sent, ["hello"]);
    assert.equal(await local.finish({ timeout: LIMIT }), "hello");
    assert.equal(await ch.deliver("again", { n: 2, timeout: LIMIT }), 2); // local task ended
    // A remote that refuses (ended, peer gone) is dropped, as an ended task is.
    remote.accepting = false;
    assert.equal(ch.send("x"), 1);
    assert.equal(ch.subscribers().includes(remote), false);
    assert.equal(await ch.unsubscribe(new FakeRemote("r1")), false);
    assert.equal(await sub.unsubscribe(new FakeRemote("r2")), true);
    assert.equal(ch.send("y"), 0);
  });
});

Deno.test("remote ref: a full remote queue costs only that subscriber the message", async () => {
  await configure({
    reset: true,
    sinks: { none: () => {} },
    loggers: [{ category: ["denocos"], lowestLevel: "debug", sinks: ["none"] }, {
      category: ["logtape", "meta"],
      lowestLevel: "warning",
      sinks: [],
    }],
  });
  try {
    await withScheduler(async (s) => {
      const ch = new Channel("fan", { scheduler: s });
      const full = new FakeRemote("full"), ok = new FakeRemote("ok");
      full.accepting = "full";
      await ch.subscribe(full);
      await ch.subscribe(ok);
      assert.equal(ch.send("m"), 1);
      assert.deepEqual(ok.sent, ["m"]);
      assert.equal(ch.subscribers().length, 2);
    });
  } finally {
    await reset();
  }
});

Deno.test("remote ref: objects without an endpoint are still refused", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("strict", { scheduler: s });
    const t = s.spawn(() => {});
    const bogus = { [REMOTE_REF]: "not an endpoint" } as never;
    await assert.rejects(ch.subscribe(bogus), TypeError);
    await assert.rejects(ch.unsubscribe({} as never), TypeError);
    assert.throws(() => t.monitor({} as never), TypeError);
    await t.finish({ timeout: LIMIT });
  });
});
