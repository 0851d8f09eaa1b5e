/**
 * Runs the network examples as pairs of real programs, each with exactly the
 * permission flags its header's `Run:` line gives. Servers get port 0 and
 * tell the test the port they got.
 */
import assert from "node:assert/strict";
import { start } from "./_run.ts";

Deno.test("examples/remote_server.ts + remote_client.ts: 30 messages from 10 remote clients", async () => {
  await using server = await start("remote_server.ts", ["0", "30"]);
  const [, port] = await server.waitFor(/^server listening on 127\.0\.0\.1:(\d+)$/);
  await using client = await start("remote_client.ts", [port, "10"]);
  assert.deepEqual(await client.done(), ["sent 30 messages"]);
  const processed = (await server.done()).filter((l) => l.startsWith("processing "));
  assert.equal(processed.length, 30);
  const ids = processed.map((l) => Number(l.match(/^processing (\d+): \d \/ [0-2]$/)![1]));
  assert.deepEqual(ids.toSorted((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
});

Deno.test("examples/remote_channel_*.ts: deliver waits for two remote subscribers", async () => {
  await using server = await start("remote_channel_server.ts", ["0"]);
  const [, port] = await server.waitFor(/^channel server listening on 127\.0\.0\.1:(\d+)$/);
  await using a = await start("remote_channel_client.ts", [port]);
  await a.waitFor(/^subscribed$/);
  await using b = await start("remote_channel_client.ts", [port]);
  // "subscribed" may print before or after the first news: the server may
  // send as soon as the subscription is in, before its answer to us.
  const expected = [
    "received: first news",
    "received: update 1",
    "received: update 2",
    "received: update 3",
    "received: quit",
  ];
  for (const lines of [await a.done(), await b.done()]) {
    assert.ok(lines.includes("subscribed"));
    assert.deepEqual(lines.filter((l) => l !== "subscribed"), expected);
  }
  const lines = await server.done();
  assert.ok(lines.includes('"first news" delivered to 2 subscribers'), lines.join("\n"));
  assert.ok(lines.includes('"quit" delivered to 2'), lines.join("\n"));
});

Deno.test("examples/chat_chan_*.ts: a registered remote channel with a transform", async () => {
  await using server = await start("chat_chan_server.ts", ["0", "2"]);
  const [, port] = await server.waitFor(/^chat server listening on 127\.0\.0\.1:(\d+)$/);
  await using a = await start("chat_chan_client.ts", [port, "ann"], true);
  await a.waitFor(/^ann: has joined$/);
  await using b = await start("chat_chan_client.ts", [port, "bob"], true);
  await a.waitFor(/^bob: has joined$/);
  await a.type("HELLO EVERYONE"); // shouting: dropped by the transform
  await a.type("hello bob");
  await b.waitFor(/^ann: hello bob$/);
  await b.type("hi ann");
  await a.waitFor(/^bob: hi ann$/);
  await a.type("quit");
  await b.waitFor(/^ann: has left$/);
  await b.endInput();
  const aLines = await a.done();
  const bLines = await b.done();
  assert.ok(!aLines.concat(bLines).some((l) => l.includes("HELLO")));
  const s = await server.done();
  assert.ok(s.includes("ann: hello bob") && s.includes("bob: hi ann"), s.join("\n"));
  assert.equal(s.filter((l) => l.endsWith(": has left")).length, 2);
});

Deno.test("examples/pico_service.ts + pico_client.ts: five runs of a remote service", async () => {
  await using server = await start("pico_service.ts", ["0", "1"]);
  const [, port] = await server.waitFor(/^pico service listening on 127\.0\.0\.1:(\d+)$/);
  await using client = await start("pico_client.ts", [port, "5"]);
  const results = (await client.done()).map((l) =>
    l.match(/^pico\((\d)\) = (\d+) from RemoteTask/)!
  );
  assert.deepEqual(results.map((m) => [Number(m[1]), Number(m[2])]), [[1, 1], [2, 4], [3, 9], [
    4,
    16,
  ], [5, 25]]);
  assert.equal((await server.done()).filter((l) => l.startsWith("request ")).length, 5);
});
