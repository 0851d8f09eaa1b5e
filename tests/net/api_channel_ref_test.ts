/**
 * Channel references in messages name one channel: an unregistered channel
 * sent to a peer never stands for another channel of the same name.
 */
import assert from "node:assert/strict";
import { Channel, type RemoteChannel, type RemoteTask } from "../../mod.ts";
import { Cluster } from "./_cluster.ts";

Deno.test("an unregistered channel sent to a peer does not shadow a registered one of its name", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  const registered = new Channel("news", { scheduler: a });
  registered.register();
  const mine = new Channel("news", { scheduler: a });
  const other = new Channel("news", { scheduler: a });
  // b's tasks each get one of a's unregistered "news" channels and subscribe.
  const readers = [mine, other].map(() =>
    b.spawn(async (task) => {
      const got = (await task.receive<RemoteChannel>({ timeout: 5000 }))!;
      assert.equal(got.name, "news");
      await got.subscribe(task);
      return await task.receive({ timeout: 5000 });
    })
  );
  const hub = b.spawn(async (task) => {
    task.register("hub");
    const chs = [await task.receive({ timeout: 5000 }), await task.receive({ timeout: 5000 })];
    chs.forEach((ch, i) => readers[i].send(ch));
  });
  await b.spawn(() => {}).finish();
  const hubRef = await a.locate("hub", { timeout: 5000 });
  hubRef!.send(mine);
  hubRef!.send(other);
  await hub.finish();
  // Each subscription landed on the channel that was sent, not on a namesake.
  const wait = a.spawn(async (task) => {
    while (mine.subscribers().length + other.subscribers().length < 2) await task.sleep(5);
  });
  await wait.finish();
  assert.equal(mine.subscribers().length, 1);
  assert.equal(other.subscribers().length, 1);
  assert.equal(registered.subscribers().length, 0);
  mine.send("to mine");
  other.send("to other");
  assert.deepEqual(await Promise.all(readers.map((r) => r.finish())), ["to mine", "to other"]);
  // And the registered one is still what peers find by name.
  const found = await b.locateChannel("news", { timeout: 5000 });
  const listener = b.spawn(async (task) => {
    await found!.subscribe(task);
    return await task.receive({ timeout: 5000 });
  });
  const wait2 = a.spawn(async (task) => {
    while (registered.subscribers().length < 1) await task.sleep(5);
  });
  await wait2.finish();
  registered.send("to the registered one");
  assert.equal(await listener.finish(), "to the registered one");
});

Deno.test("a local task that ended comes back from a peer as itself, with its result", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  b.spawn(async (task) => {
    task.setDaemon();
    task.register("echo");
    for (;;) {
      const { from, what } = await task.receive<{ from: RemoteTask; what: unknown }>();
      from.send(what);
    }
  });
  await b.spawn(() => {}).finish();
  const done = a.spawn(() => 42);
  assert.equal(await done.finish(), 42);
  const back = await a.spawn(async (task) => {
    const echo = await task.scheduler.locate("echo", { timeout: 5000 });
    echo!.send({ from: task, what: done });
    return await task.receive({ timeout: 5000 });
  }).finish();
  assert.equal(back, done);
});
