/**
 * Runs the socket examples as their own programs, each with exactly the
 * permission flags its header's `Run:` line gives, and checks what they
 * print. Servers get port 0 and tell the test the port they got.
 */
import assert from "node:assert/strict";
import { start } from "./_run.ts";

Deno.test("examples/sock_server.ts + sock_client.ts: nine '/'-terminated messages arrive whole", async () => {
  await using server = await start("sock_server.ts", ["0", "9"]);
  const [, port] = await server.waitFor(/^listening on 127\.0\.0\.1:(\d+)$/);
  await using client = await start("sock_client.ts", [port]);
  const sent = new Map<string, number>();
  for (const line of await client.done()) {
    const m = line.match(/^sent (\d+) bytes from client (\d)$/);
    assert.ok(m, line);
    sent.set(m[2], Number(m[1]));
  }
  const received = new Map<string, number>();
  for (const line of (await server.done()).slice(1)) {
    const m = line.match(/^received: (\d): (-+)\/$/);
    assert.ok(m, line);
    received.set(m[1], `${m[1]}: ${m[2]}/`.length);
  }
  assert.deepEqual([...received.keys()].sort(), ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.deepEqual(received, new Map([...received.keys()].map((k) => [k, sent.get(k)])));
});

Deno.test("examples/udp.ts: the server gets one datagram from each of 50 clients", async () => {
  await using udp = await start("udp.ts", ["50"]);
  const lines = await udp.done();
  assert.equal(lines.length, 50, lines.join("\n"));
  const ports = new Set<string>();
  for (const line of lines) {
    const m = line.match(/^Received "client socket: (\d+)" from 127\.0\.0\.1:(\d+)$/);
    assert.ok(m, line);
    assert.equal(m[1], m[2]);
    ports.add(m[1]);
  }
  assert.equal(ports.size, 50);
});

Deno.test("examples/chat_server.ts + chat_client.ts: two clients chat, leave, and the server stops", async () => {
  await using server = await start("chat_server.ts", ["0", "2"]);
  const [, port] = await server.waitFor(/^chat server on 127\.0\.0\.1:(\d+)$/);
  await using a = await start("chat_client.ts", [port], true);
  await a.waitFor(/^connected/);
  await using b = await start("chat_client.ts", [port], true);
  const [, bName] = await b.waitFor(/^connected to \S+ as (\S+)$/);
  await a.waitFor(new RegExp(`^\\*\\*\\* ${bName} joined$`)); // both are members now
  await a.type("hello from A");
  await b.waitFor(/^\S+: hello from A$/);
  await b.type("hi from B");
  await a.waitFor(new RegExp(`^${bName}: hi from B$`));
  await a.type("quit");
  await b.waitFor(/ left$/);
  await b.endInput();
  const aLines = await a.done();
  const bLines = await b.done();
  const sLines = await server.done();
  assert.equal(aLines.at(-1), "*** connection closed");
  assert.equal(bLines.at(-1), "*** connection closed");
  assert.equal(sLines.filter((l) => l.startsWith("joined: ")).length, 2);
  assert.equal(sLines.filter((l) => l.startsWith("left: ")).length, 2);
  assert.ok(sLines.some((l) => l.endsWith(": hello from A")));
  assert.ok(sLines.some((l) => l === `${bName}: hi from B`));
});
