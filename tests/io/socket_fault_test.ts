/**
 * Faults from outside the process: a peer process killed mid-stream and a
 * peer that writes garbage instead of frames. Each costs only its own
 * connection; the server and its other connections carry on, and every
 * message that arrived is whole.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AsyncSocket, ConnectionClosed, MessageTooLarge } from "../../mod.ts";
import { dec, LIMIT } from "./_net_util.ts";
import { withScheduler } from "../core/_util.ts";

const root = new URL("../..", import.meta.url);
const mod = new URL("mod.ts", root).href;

/**
 * Starts `deno eval code` as a peer process; `await using` kills it (if it
 * still runs) and waits for it, so a failing test leaves no process behind.
 */
function peer(code: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    cwd: root,
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/** A 1,000-byte message whose every byte is `i % 251`, so a mix-up shows. */
function message(i: number): Uint8Array {
  return new Uint8Array(1000).fill(i % 251);
}

Deno.test("fault: a peer process killed mid-stream costs only its connection", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const port = server.localAddr.port;
    // The peer streams numbered messages as fast as it can until it is killed.
    await using child = peer(`import { AsyncSocket } from "${mod}";
      const sock = await AsyncSocket.connect({ hostname: "127.0.0.1", port: ${port} });
      for (let i = 0; ; i++) await sock.sendMsg(new Uint8Array(1000).fill(i % 251));`);
    const streamed = await server.accept({ timeout: LIMIT });
    let received = 0;
    let ending: unknown = undefined;
    try {
      for (;;) {
        const m = await streamed.recvMsg({ timeout: LIMIT });
        if (m === null) break; // the kill fell between two frames
        assert.deepEqual(m, message(received), `message ${received} is not whole`);
        if (++received === 50) child.kill("SIGKILL");
      }
    } catch (e) {
      ending = e; // the kill fell inside a frame
    }
    await child.status;
    assert.ok(received >= 50);
    assert.ok(ending === undefined || ending instanceof ConnectionClosed, String(ending));
    streamed.close();
    // The server and a new connection are undisturbed.
    const client = await AsyncSocket.connect({ hostname: "127.0.0.1", port, scheduler: s });
    const conn = await server.accept({ timeout: LIMIT });
    await client.sendMsg("after the kill");
    assert.equal(dec.decode((await conn.recvMsg({ timeout: LIMIT }))!), "after the kill");
    client.close();
    conn.close();
    server.close();
  });
});

Deno.test("fault: a peer writing garbage instead of frames is refused; the others carry on", async () => {
  await withScheduler(async (s) => {
    const server = AsyncSocket.listen({
      hostname: "127.0.0.1",
      port: 0,
      maxMessageSize: 1 << 20,
      scheduler: s,
    });
    const port = server.localAddr.port;
    const good = await AsyncSocket.connect({ hostname: "127.0.0.1", port, scheduler: s });
    const goodConn = await server.accept({ timeout: LIMIT });
    // 0xff bytes read as a frame length of 4 GiB - 1: far over the limit.
    await using child = peer(
      `const conn = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
      await conn.write(new Uint8Array(64).fill(0xff));
      await new Promise(() => {}); // stays connected until killed`,
    );
    const garbage = await server.accept({ timeout: LIMIT });
    const refused = await garbage.recvMsg({ timeout: LIMIT }).catch((e) => e);
    assert.ok(refused instanceof MessageTooLarge, String(refused));
    assert.equal(garbage.closed, true, "the garbage connection is closed");
    child.kill("SIGKILL");
    await child.status;
    await good.sendMsg("unaffected");
    assert.equal(dec.decode((await goodConn.recvMsg({ timeout: LIMIT }))!), "unaffected");
    good.close();
    goodConn.close();
    server.close();
  });
});
