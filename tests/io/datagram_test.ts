/**
 * AsyncDatagram over real UDP sockets on 127.0.0.1; multicast in a network
 * namespace of its own (so no datagram leaves the machine), skipped with a
 * printed reason where that cannot be had or the kernel refuses.
 */
import assert from "node:assert/strict";
import { AsyncDatagram, ConnectionClosed, TimeoutError } from "../../mod.ts";
import { dec, LIMIT, namespaceUnavailable, output, pattern } from "./_net_util.ts";
import { terminateWhileWaiting, withScheduler } from "../core/_util.ts";

Deno.test("UDP: sendTo / recvFrom between two sockets, sizes up to 60,000 bytes", async () => {
  await withScheduler(async (s) => {
    const a = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const b = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    assert.equal(await a.sendTo("ping", b.localAddr), 4);
    const { data, remoteAddr } = await b.recvFrom({ timeout: LIMIT });
    assert.equal(dec.decode(data), "ping");
    assert.equal(remoteAddr.port, a.localAddr.port);
    await b.sendTo("pong", remoteAddr);
    assert.equal(dec.decode((await a.recvFrom({ timeout: LIMIT })).data), "pong");
    const sizes = [0, 1, 1500, 20_000, 60_000, 7];
    for (const [i, n] of sizes.entries()) await a.sendTo(pattern(n, i), b.localAddr);
    const got: Uint8Array[] = [];
    for (let i = 0; i < sizes.length; i++) got.push((await b.recvFrom({ timeout: LIMIT })).data);
    // Views of shared receive memory stay intact after later receives.
    for (const [i, n] of sizes.entries()) assert.deepEqual(got[i], pattern(n, i));
  });
});

Deno.test("UDP: a datagram longer than maxDatagramSize is cut to it", async () => {
  await withScheduler(async (s) => {
    const a = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const b = AsyncDatagram.bind({
      hostname: "127.0.0.1",
      port: 0,
      maxDatagramSize: 100,
      scheduler: s,
    });
    await a.sendTo(pattern(300), b.localAddr);
    assert.deepEqual((await b.recvFrom({ timeout: LIMIT })).data, pattern(100));
    assert.throws(() => AsyncDatagram.bind({ port: 0, maxDatagramSize: 70_000 }), RangeError);
  });
});

Deno.test("UDP: timeout and terminate lose no datagram; close ends waits and the for-await loop", async () => {
  await withScheduler(async (s) => {
    const a = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    const b = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    await assert.rejects(b.recvFrom({ timeout: 1 }), TimeoutError);
    await a.sendTo("first", b.localAddr);
    assert.equal(dec.decode((await b.recvFrom({ timeout: LIMIT })).data), "first");

    await terminateWhileWaiting(s, () => b.recvFrom());
    await a.sendTo("second", b.localAddr);
    assert.equal(dec.decode((await b.recvFrom({ timeout: LIMIT })).data), "second");

    const ac = new AbortController();
    const aborted = b.recvFrom({ signal: ac.signal });
    ac.abort(new Error("enough"));
    await assert.rejects(aborted, /enough/);

    const loop = s.spawn(async () => {
      const seen: string[] = [];
      for await (const d of b) {
        seen.push(dec.decode(d.data));
        if (seen.length === 2) b.close();
      }
      return seen;
    });
    await a.sendTo("x", b.localAddr);
    await a.sendTo("y", b.localAddr);
    assert.deepEqual(await loop.finish({ timeout: LIMIT }), ["x", "y"]);
    await assert.rejects(b.recvFrom(), ConnectionClosed);
    await assert.rejects(b.sendTo("z", a.localAddr), ConnectionClosed);
    const pending = assert.rejects(a.recvFrom(), ConnectionClosed);
    await a[Symbol.asyncDispose]();
    await pending;
  });
});

Deno.test("UDP: joining and leaving a multicast group on the loopback interface", async () => {
  await withScheduler(async (s) => {
    const m = AsyncDatagram.bind({ hostname: "127.0.0.1", port: 0, scheduler: s });
    let membership;
    try {
      membership = await m.joinMulticastV4("239.255.97.5", "127.0.0.1");
    } catch (e) {
      console.log(`skipped: the kernel refuses to join 239.255.97.5 on 127.0.0.1 (${e})`);
      return;
    }
    assert.equal(await m.joinMulticastV4("239.255.97.5", "127.0.0.1"), membership);
    await membership.setLoopback(true);
    assert.equal(await m.leaveMulticastV4("239.255.97.5", "127.0.0.1"), true);
    assert.equal(await m.leaveMulticastV4("239.255.97.5", "127.0.0.1"), false);
  });
});

const noNamespace = await namespaceUnavailable();
if (noNamespace !== undefined) {
  console.log(`skipping the multicast delivery test: ${noNamespace}`);
}

Deno.test({
  name: "UDP multicast: a member on loopback receives the group's datagrams until it leaves",
  ignore: noNamespace !== undefined,
  async fn() {
    // A private network namespace (only a loopback interface, with
    // multicast routed to it): the group traffic cannot leave the machine.
    const fixture = new URL("./fixtures/multicast.ts", import.meta.url).pathname;
    const setup =
      "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo";
    const out = await output("unshare", {
      args: [
        "-rn",
        "sh",
        "-c",
        `${setup} && exec "$0" run --unstable-net --allow-net=0.0.0.0,127.0.0.1,239.255.97.5 "$1"`,
        Deno.execPath(),
        fixture,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const stdout = dec.decode(out.stdout);
    assert.equal(out.code, 0, stdout + dec.decode(out.stderr));
    const refused = stdout.match(/^refused: (.*)$/m);
    if (refused !== null) {
      console.log(`skipped: the kernel refuses multicast on loopback here: ${refused[1]}`);
      return;
    }
    assert.deepEqual(stdout.trim().split("\n"), [
      "joined",
      "received: hello group from the sender",
      "left: true",
      "left again: false",
      "next: marker",
    ]);
  },
});
