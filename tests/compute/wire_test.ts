/**
 * The compute layer's classes on the wire: `ServerFailed` comes back to a
 * client as itself, through the codec and across peers.
 */
import assert from "node:assert/strict";
import { ServerFailed } from "../../src/compute/mod.ts";
import { Codec, type CodecContext } from "../../src/net/codec.ts";
import { Cluster } from "../net/_cluster.ts";
import { Service, type Task } from "../../mod.ts";

Deno.test("wire: ServerFailed round-trips through the codec as ServerFailed", () => {
  const context = { isTask: () => false, isChannel: () => false } as unknown as CodecContext;
  const codec = new Codec(context);
  const back = codec.decode(codec.encode([new ServerFailed("server 7: out of memory")])) as [
    Error,
  ];
  assert.ok(back[0] instanceof ServerFailed, String(back[0]));
  assert.equal(back[0].name, "ServerFailed");
  assert.equal(back[0].message, "server 7: out of memory");
});

Deno.test("wire: a remote task failing with ServerFailed rejects finish() with ServerFailed", async () => {
  await using c = new Cluster();
  const [a, b] = await c.star(2);
  a.registerService("doomed", async (task: Task) => {
    await task.receive({ timeout: 10_000 });
    throw new ServerFailed("server 9: exited");
  });
  const svc = await Service.locate("doomed", { scheduler: b, timeout: 10_000 });
  const job = await svc!.run();
  // FINISH goes first (in order on the link): the failure has a taker.
  const finished = job.finish({ timeout: 10_000 });
  job.send("fail now");
  await assert.rejects(finished, (e) => {
    assert.ok(e instanceof ServerFailed, String(e));
    assert.match((e as Error).message, /server 9: exited/);
    return true;
  });
});
