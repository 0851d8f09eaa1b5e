/**
 * The network's fault cases against real peer processes over TCP on
 * 127.0.0.1: kill -9 mid-stream, wrong secret, foreign cluster, garbage and
 * oversized frames, a slow (stopped) reader, a restarted peer.
 */
import assert from "node:assert/strict";
import {
  AuthenticationFailed,
  MailboxFull,
  MonitorStatus,
  PeerLost,
  type RemoteTask,
  Scheduler,
  type Task,
} from "../../mod.ts";
import { PeerProcess } from "./_process.ts";
import { receiveMatching } from "./_cluster.ts";

const isStatus = (m: unknown): m is MonitorStatus => m instanceof MonitorStatus;

async function localPeer(options?: { secret?: string; cluster?: string; maxQueuedBytes?: number }) {
  const s = new Scheduler();
  await s.listen({ hostname: "127.0.0.1", port: 0, secret: "s3cret", discover: false, ...options });
  return s;
}

async function locateOn(s: Scheduler, port: number, name: string): Promise<RemoteTask> {
  const ref = await s.locate(name, { location: { hostname: "127.0.0.1", port }, timeout: 10_000 });
  assert.ok(ref, `no ${name} on :${port}`);
  return ref as unknown as RemoteTask;
}

Deno.test("kill -9 of a peer mid-stream: its monitors hear 'unreachable'; the other peer loses nothing", async () => {
  await using doomed = await PeerProcess.start();
  await using other = await PeerProcess.start();
  await using s = await localPeer();
  await s.peer({ hostname: "127.0.0.1", port: doomed.port });
  await s.peer({ hostname: "127.0.0.1", port: other.port });
  const sinkA = await locateOn(s, doomed.port, "sink");
  const sinkB = await locateOn(s, other.port, "sink");
  const N = 50_000;
  const result = s.spawn(async (task) => {
    task.monitor(sinkA as unknown as Task);
    for (let i = 0; i < N; i++) {
      sinkA.send(i);
      sinkB.send(i);
      if (i === N / 2) {
        doomed.kill("SIGKILL");
        await task.sleep(0);
      }
      if ((i & 1023) === 0) await task.sleep(0);
    }
    const status = await receiveMatching(task, isStatus, 30_000);
    sinkB.send({ report: task });
    const report = await receiveMatching(
      task,
      (m): m is { count: number; ordered: boolean } =>
        typeof m === "object" && m !== null && "count" in m,
      30_000,
    );
    return { status, report };
  });
  const { status, report } = await result.finish();
  assert.equal(status.type, "unreachable");
  assert.ok(status.value instanceof PeerLost);
  assert.deepEqual(report, { count: N, ordered: true });
  assert.equal(sinkA.send(1), false);
});

Deno.test("a wrong secret and a foreign cluster are refused; the peer goes on serving", async () => {
  await using peer = await PeerProcess.start("0", "s3cret", "blue");
  await using wrong = await localPeer({ secret: "wrong", cluster: "blue" });
  await assert.rejects(
    wrong.peer({ hostname: "127.0.0.1", port: peer.port }),
    AuthenticationFailed,
  );
  await using foreign = await localPeer({ secret: "s3cret", cluster: "red" });
  await assert.rejects(
    foreign.peer({ hostname: "127.0.0.1", port: peer.port }),
    AuthenticationFailed,
  );
  await using good = await localPeer({ cluster: "blue" });
  const info = await good.peer({ hostname: "127.0.0.1", port: peer.port });
  assert.equal(info.location.port, peer.port);
});

Deno.test("garbage bytes and an oversized frame close only that connection", async () => {
  await using peer = await PeerProcess.start();
  for (
    const bytes of [
      crypto.getRandomValues(new Uint8Array(4096)),
      new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0x10, 1, 2, 3]), // announces 2 GiB
    ]
  ) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: peer.port });
    try {
      await conn.write(bytes).catch(() => 0);
      // The peer hangs up on us.
      const buf = new Uint8Array(4096);
      while ((await conn.read(buf).catch(() => null)) !== null) { /* until closed */ }
    } finally {
      conn.close();
    }
  }
  await using good = await localPeer();
  await good.peer({ hostname: "127.0.0.1", port: peer.port });
  const echo = await locateOn(good, peer.port, "echo");
  const asker = good.spawn(async (task) => {
    echo.send({ from: task, payload: "still here" });
    return await task.receive({ timeout: 10_000 });
  });
  assert.equal(await asker.finish(), "still here");
});

Deno.test("a stopped reader: the sender's bounded queue answers MailboxFull; the peer survives", async () => {
  await using peer = await PeerProcess.start();
  await using s = await localPeer({ maxQueuedBytes: 1024 * 1024 });
  await s.peer({ hostname: "127.0.0.1", port: peer.port });
  const sink = await locateOn(s, peer.port, "sink");
  peer.kill("SIGSTOP");
  let full: unknown = undefined;
  const filler = s.spawn(async (task) => {
    const block = new Uint8Array(16 * 1024);
    for (let i = 0; i < 100_000 && full === undefined; i++) {
      try {
        sink.send(block);
      } catch (e) {
        full = e;
      }
      if ((i & 15) === 0) await task.sleep(0);
    }
  });
  await filler.finish();
  assert.ok(full instanceof MailboxFull, String(full));
  peer.kill("SIGCONT");
  assert.equal(await sink.deliver("after", { timeout: 20_000 }), 1);
});

Deno.test("a restarted peer: references to its old incarnation are refused", async () => {
  await using s = await localPeer();
  let port: number;
  let old: RemoteTask;
  {
    await using first = await PeerProcess.start();
    port = first.port;
    await s.peer({ hostname: "127.0.0.1", port });
    old = await locateOn(s, port, "sink");
  }
  const watcher = s.spawn(async (task) => {
    task.monitor(old as unknown as Task);
    return await receiveMatching(task, isStatus, 30_000);
  });
  assert.equal((await watcher.finish()).type, "unreachable");
  await using second = await PeerProcess.start(String(port));
  await s.peer({ hostname: "127.0.0.1", port });
  assert.equal(old.send(1), false);
  assert.equal(await old.deliver(1, { timeout: 1000 }), 0);
  const fresh = await locateOn(s, port, "sink");
  assert.notEqual(fresh.peer, old.peer);
  assert.equal(await fresh.deliver(0, { timeout: 10_000 }), 1);
  void second;
});
