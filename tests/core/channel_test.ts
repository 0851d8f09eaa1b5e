import assert from "node:assert/strict";
import { Channel, ChannelClosed, type Scheduler, type Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** A task that collects every message until it receives `null`. */
function collector(s: Scheduler): Task<unknown[]> {
  return s.spawn(async (task) => {
    const got: unknown[] = [];
    for (;;) {
      const m = await task.receive({ timeout: LIMIT, alarmValue: "timed out" });
      if (m === null) return got;
      got.push(m);
      if (m === "timed out") return got;
    }
  });
}

Deno.test("send reaches every subscriber, in order, and returns how many it reached", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("news", { scheduler: s });
    const a = collector(s);
    const b = collector(s);
    await ch.subscribe(a);
    await ch.subscribe(b);
    await ch.subscribe(a); // again: a no-op
    assert.equal(ch.subscribers().length, 2);
    for (let i = 0; i < 100; i++) assert.equal(ch.send(i), 2);
    ch.send(null);
    const expected = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(await a.finish({ timeout: LIMIT }), expected);
    assert.deepEqual(await b.finish({ timeout: LIMIT }), expected);
  });
});

Deno.test("send with no subscribers returns 0", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("empty", { scheduler: s });
    assert.equal(ch.send("nobody"), 0);
    assert.equal(await ch.deliver("nobody"), 0);
  });
});

Deno.test("unsubscribe stops delivery and resolves whether it was subscribed", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("unsub", { scheduler: s });
    const a = collector(s);
    await ch.subscribe(a);
    ch.send(1);
    assert.equal(await ch.unsubscribe(a), true);
    assert.equal(await ch.unsubscribe(a), false);
    assert.equal(ch.send(2), 0);
    a.send(null);
    assert.deepEqual(await a.finish({ timeout: LIMIT }), [1]);
  });
});

Deno.test("send and deliver count end-point tasks through nested channels", async () => {
  await withScheduler(async (s) => {
    const top = new Channel("top", { scheduler: s });
    const mid = new Channel("mid", { scheduler: s });
    const leaf = new Channel("leaf", { scheduler: s });
    const tasks = [collector(s), collector(s), collector(s), collector(s), collector(s)];
    await top.subscribe(tasks[0]);
    await top.subscribe(tasks[1]);
    await top.subscribe(mid);
    await mid.subscribe(tasks[2]);
    await mid.subscribe(leaf);
    await leaf.subscribe(tasks[3]);
    await leaf.subscribe(tasks[4]);
    // An empty sub-channel reaches nobody.
    await top.subscribe(new Channel("empty", { scheduler: s }));
    assert.equal(top.send("sent"), 5);
    assert.equal(await top.deliver("delivered", { timeout: LIMIT }), 5);
    assert.equal(mid.send("mid only"), 3);
    assert.equal(await leaf.deliver("leaf only"), 2);
    for (const t of tasks) t.send(null);
    const got = await Promise.all(tasks.map((t) => t.finish({ timeout: LIMIT })));
    assert.deepEqual(got[0], ["sent", "delivered"]);
    assert.deepEqual(got[1], ["sent", "delivered"]);
    assert.deepEqual(got[2], ["sent", "delivered", "mid only"]);
    assert.deepEqual(got[3], ["sent", "delivered", "mid only", "leaf only"]);
    assert.deepEqual(got[4], ["sent", "delivered", "mid only", "leaf only"]);
  });
});

Deno.test("a task subscribed through two paths gets the message once per path", async () => {
  await withScheduler(async (s) => {
    const top = new Channel("top", { scheduler: s });
    const sub = new Channel("sub", { scheduler: s });
    const t = collector(s);
    await top.subscribe(t);
    await top.subscribe(sub);
    await sub.subscribe(t);
    assert.equal(top.send("x"), 2);
    t.send(null);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), ["x", "x"]);
  });
});

Deno.test("deliver with n waits until n subscribers exist, then reaches them all", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("await-subscribers", { scheduler: s });
    const delivered = ch.deliver("hello", { n: 2, timeout: LIMIT });
    const a = collector(s);
    const b = collector(s);
    await ch.subscribe(a);
    await ch.subscribe(b);
    assert.equal(await delivered, 2);
    a.send(null);
    b.send(null);
    assert.deepEqual(await a.finish({ timeout: LIMIT }), ["hello"]);
    // b subscribed after deliver was called: it still got the message.
    assert.deepEqual(await b.finish({ timeout: LIMIT }), ["hello"]);
  });
});

Deno.test("deliver with n counts a subscribed channel as a subscriber", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("parent", { scheduler: s });
    const child = new Channel("child", { scheduler: s });
    const a = collector(s);
    const b = collector(s);
    await child.subscribe(a);
    await child.subscribe(b);
    const delivered = ch.deliver("m", { n: 1, timeout: LIMIT });
    await ch.subscribe(child);
    assert.equal(await delivered, 2);
    a.send(null);
    b.send(null);
    await a.finish({ timeout: LIMIT });
    await b.finish({ timeout: LIMIT });
  });
});

Deno.test("deliver with n returns 0 on timeout and sends nothing", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("lonely", { scheduler: s });
    const a = collector(s);
    await ch.subscribe(a);
    assert.equal(await ch.deliver("m", { n: 2, timeout: 1 }), 0);
    a.send(null);
    assert.deepEqual(await a.finish({ timeout: LIMIT }), []);
  });
});

Deno.test("deliver with a signal rejects with its reason while waiting for subscribers", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("aborted", { scheduler: s });
    const ac = new AbortController();
    const delivered = ch.deliver("m", { n: 1, signal: ac.signal });
    ac.abort(new Error("no longer needed"));
    await assert.rejects(delivered, { message: "no longer needed" });
  });
});

Deno.test("a subscription that would create a cycle is refused with an error naming the channels", async () => {
  await withScheduler(async (s) => {
    const a = new Channel("alpha", { scheduler: s });
    const b = new Channel("beta", { scheduler: s });
    const c = new Channel("gamma", { scheduler: s });
    await a.subscribe(b);
    await b.subscribe(c);
    await assert.rejects(c.subscribe(a), (e: Error) => {
      assert.ok(!(e instanceof TypeError));
      for (const name of ["alpha", "beta", "gamma"]) {
        assert.match(e.message, new RegExp(name), `message names ${name}: ${e.message}`);
      }
      return true;
    });
    await assert.rejects(a.subscribe(a), /alpha/);
    // Nothing was added: sending still terminates and reaches nobody.
    assert.equal(a.send("x"), 0);
    assert.deepEqual(c.subscribers(), []);
  });
});

Deno.test("transform rewrites messages, drops undefined, and a throwing transform drops", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("numbers", {
      scheduler: s,
      transform: (name, m) => {
        if (m === "boom") throw new Error("bad message");
        if (typeof m !== "number") return undefined;
        return `${name}:${m * 10}`;
      },
    });
    const t = collector(s);
    await ch.subscribe(t);
    assert.equal(ch.send(1), 1);
    assert.equal(ch.send("dropped"), 0);
    assert.equal(ch.send("boom"), 0);
    assert.equal(await ch.deliver(2), 1);
    assert.equal(await ch.deliver("dropped"), 0);
    assert.equal(await ch.deliver("boom"), 0);
    ch.setTransform((_name, m) => (m === "stop" ? null : m));
    assert.equal(ch.send(3), 1);
    ch.setTransform(undefined);
    assert.equal(ch.send(4), 1);
    ch.send("stop");
    ch.setTransform((_name, m) => (m === "stop" ? null : m));
    ch.send("stop");
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [
      "numbers:10",
      "numbers:20",
      3,
      4,
      "stop",
    ]);
  });
});

Deno.test("a sub-channel's transform applies to what passes through it", async () => {
  await withScheduler(async (s) => {
    const top = new Channel("top", { scheduler: s });
    const evens = new Channel("evens", {
      scheduler: s,
      transform: (_n, m) => (typeof m === "number" && m % 2 === 0 ? m : undefined),
    });
    const all = collector(s);
    const even = collector(s);
    await top.subscribe(all);
    await top.subscribe(evens);
    await evens.subscribe(even);
    assert.equal(top.send(1), 1);
    assert.equal(top.send(2), 2);
    assert.equal(await top.deliver(3), 1);
    assert.equal(await top.deliver(4), 2);
    all.send(null);
    even.send(null);
    assert.deepEqual(await all.finish({ timeout: LIMIT }), [1, 2, 3, 4]);
    assert.deepEqual(await even.finish({ timeout: LIMIT }), [2, 4]);
  });
});

Deno.test("subscribers that have ended are removed automatically", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("auto-remove", { scheduler: s });
    const short = s.spawn(async (task) => await task.receive({ timeout: LIMIT }));
    const long = collector(s);
    await ch.subscribe(short);
    await ch.subscribe(long);
    assert.equal(ch.send("first"), 2);
    assert.equal(await short.finish({ timeout: LIMIT }), "first");
    assert.equal(ch.send("second"), 1);
    assert.deepEqual(ch.subscribers(), [long]);
    assert.equal(await ch.deliver("third"), 1);
    // Subscribing an ended task adds nothing.
    await ch.subscribe(short);
    assert.deepEqual(ch.subscribers(), [long]);
    long.send(null);
    assert.deepEqual(await long.finish({ timeout: LIMIT }), ["first", "second", "third"]);
  });
});

Deno.test("a closed channel throws ChannelClosed on send, deliver and subscribe", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("closing", { scheduler: s });
    const t = collector(s);
    await ch.subscribe(t);
    assert.equal(ch.closed, false);
    ch.close();
    ch.close(); // idempotent
    assert.equal(ch.closed, true);
    assert.throws(() => ch.send("x"), ChannelClosed);
    await assert.rejects(ch.deliver("x"), ChannelClosed);
    await assert.rejects(ch.subscribe(t), ChannelClosed);
    assert.deepEqual(ch.subscribers(), []);
    t.send(null);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), []);
  });
});

Deno.test("close rejects a deliver waiting for subscribers with ChannelClosed", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("closing-while-waiting", { scheduler: s });
    const delivered = ch.deliver("m", { n: 1, timeout: LIMIT });
    ch.close();
    await assert.rejects(delivered, ChannelClosed);
  });
});

Deno.test("a closed sub-channel is skipped", async () => {
  await withScheduler(async (s) => {
    const top = new Channel("top", { scheduler: s });
    const sub = new Channel("sub", { scheduler: s });
    const t = collector(s);
    await sub.subscribe(t);
    await top.subscribe(sub);
    sub.close();
    assert.equal(top.send("x"), 0);
    assert.equal(await top.deliver("y"), 0);
    t.send(null);
    assert.deepEqual(await t.finish({ timeout: LIMIT }), []);
  });
});

Deno.test("using a channel closes it on scope exit", async () => {
  await withScheduler((s) => {
    let outer: Channel;
    {
      using ch = new Channel("scoped", { scheduler: s });
      outer = ch;
      assert.equal(ch.closed, false);
    }
    assert.equal(outer.closed, true);
  });
});

Deno.test("Channel.locate finds a registered channel; close unregisters it", async () => {
  await withScheduler(async (s) => {
    const ch = new Channel("registered", { scheduler: s });
    assert.equal(await Channel.locate("registered", { scheduler: s }), undefined);
    assert.equal(ch.register(), true);
    assert.equal(await Channel.locate("registered", { scheduler: s }), ch);
    assert.equal(await s.locateChannel("registered"), ch);
    const twin = new Channel("registered", { scheduler: s });
    assert.equal(twin.register(), false);
    ch.unregister();
    assert.equal(await Channel.locate("registered", { scheduler: s }), undefined);
    assert.equal(twin.register(), true);
    twin.close();
    assert.equal(await Channel.locate("registered", { scheduler: s }), undefined);
    assert.equal(twin.register(), false);
  });
});

Deno.test("a channel created inside a task belongs to the task's scheduler", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(() => new Channel("inner"));
    const ch = await t.finish({ timeout: LIMIT });
    assert.equal(ch.scheduler, s);
  });
});

Deno.test("order per subscriber holds across send and deliver through sub-channels", async () => {
  await withScheduler(async (s) => {
    const top = new Channel("top", { scheduler: s });
    const sub = new Channel("sub", { scheduler: s });
    const direct = collector(s);
    const nested = collector(s);
    await top.subscribe(direct);
    await top.subscribe(sub);
    await sub.subscribe(nested);
    const sender = s.spawn(async () => {
      for (let i = 0; i < 50; i++) {
        if (i % 2 === 0) top.send(i);
        else await top.deliver(i);
      }
      top.send(null);
    });
    await sender.finish({ timeout: LIMIT });
    const expected = Array.from({ length: 50 }, (_, i) => i);
    assert.deepEqual(await direct.finish({ timeout: LIMIT }), expected);
    assert.deepEqual(await nested.finish({ timeout: LIMIT }), expected);
  });
});
