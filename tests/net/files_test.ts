/**
 * `sendFile` / `deleteFile` between two schedulers on the simulated network,
 * with real files in temporary folders; hostile transfers from a raw peer.
 */
import assert from "node:assert/strict";
import type { Scheduler } from "../../mod.ts";
import * as op from "../../src/net/_ops.ts";
import { FILE_CHUNK, fileBuffers, type FileEvent } from "../../src/net/_files.ts";
import { networkOf } from "../../src/net/scheduler.ts";
import { Cluster } from "./_cluster.ts";
import { hostile } from "./_hostile.ts";

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Two peers, `b` receiving into a fresh folder; all removed at the end. */
async function pair(): Promise<
  { c: Cluster; a: Scheduler; b: Scheduler; src: string; dest: string } & AsyncDisposable
> {
  const src = await Deno.makeTempDir({ prefix: "denocos-src-" });
  const dest = await Deno.makeTempDir({ prefix: "denocos-dest-" });
  const c = new Cluster();
  const a = await c.add({ host: "a" });
  const b = await c.add({ host: "b", destPath: dest });
  await a.peer({ hostname: "b", port: 9705 });
  return {
    c,
    a,
    b,
    src,
    dest,
    async [Symbol.asyncDispose]() {
      await c[Symbol.asyncDispose]();
      await Deno.remove(src, { recursive: true });
      await Deno.remove(dest, { recursive: true });
    },
  };
}

/**
 * Resolves once `check()` holds, checking again at every file event of the
 * receiver `s` (a chunk written, a file in place, a partial file removed);
 * fails after 10 s.
 */
async function whenFiles(
  s: Scheduler,
  check: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  const net = networkOf(s)!;
  let kick = () => {};
  net.onFile = () => kick();
  const limit = performance.now() + 10_000;
  try {
    for (;;) {
      const next = new Promise<boolean>((r) => kick = () => r(false));
      if (await check()) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), Math.max(0, limit - performance.now()));
      });
      const timedOut = await Promise.race([next, late]);
      clearTimeout(timer);
      if (timedOut) assert.fail(`timed out waiting for ${what}`);
    }
  } finally {
    net.onFile = undefined;
  }
}

async function names(dir: string): Promise<string[]> {
  const now: string[] = [];
  for await (const e of Deno.readDir(dir)) now.push(e.name);
  return now.sort();
}

/** Waits until `dir` holds exactly `want` (partial files go asynchronously). */
async function until(s: Scheduler, dir: string, want: string[]): Promise<void> {
  const sorted = JSON.stringify([...want].sort());
  await whenFiles(s, async () => JSON.stringify(await names(dir)) === sorted, `${dir}: ${want}`);
}

/** Resolves the first file event of `type` at the receiver `s` (set it up before the send). */
function firstEvent(s: Scheduler, type: FileEvent["type"]): Promise<FileEvent> {
  const net = networkOf(s)!;
  return new Promise((resolve) => {
    net.onFile = (e) => {
      if (e.type !== type) return;
      net.onFile = undefined;
      resolve(e);
    };
  });
}

Deno.test("sendFile keeps content, mtime and mode; an identical file is not sent again", async () => {
  await using p = await pair();
  const path = `${p.src}/data.bin`;
  const bytes = crypto.getRandomValues(new Uint8Array(2_500_000 % 65536)); // getRandomValues limit
  const big = new Uint8Array(2_500_000);
  for (let at = 0; at < big.length; at += bytes.length) {
    big.set(bytes.subarray(0, big.length - at), at);
  }
  await Deno.writeFile(path, big);
  await Deno.chmod(path, 0o640);
  const mtime = new Date("2020-02-03T04:05:06.000Z");
  await Deno.utime(path, mtime, mtime);
  assert.equal(await p.a.sendFile(p.b.location!, path, { dir: "in/sub" }), big.length);
  const got = `${p.dest}/in/sub/data.bin`;
  assert.deepEqual(await Deno.readFile(got), big);
  const st = await Deno.stat(got);
  assert.equal(st.mode! & 0o777, 0o640);
  assert.equal(st.mtime!.getTime(), mtime.getTime());
  await until(p.b, `${p.dest}/in/sub`, ["data.bin"]);
  // Identical: nothing travels.
  assert.equal(await p.a.sendFile(p.b.location!, path, { dir: "in/sub" }), 0);
  // Different content, same name: refused unless overwrite.
  await Deno.writeFile(path, new TextEncoder().encode("changed"));
  await assert.rejects(p.a.sendFile(p.b.location!, path, { dir: "in/sub" }), /exists/);
  assert.equal(await p.a.sendFile(p.b.location!, path, { dir: "in/sub", overwrite: true }), 7);
  assert.equal(await Deno.readTextFile(got), "changed");
  // An empty file travels too.
  await Deno.writeFile(`${p.src}/empty`, new Uint8Array());
  assert.equal(await p.a.sendFile(p.b.location!, `${p.src}/empty`), 0);
  assert.equal((await Deno.stat(`${p.dest}/empty`)).size, 0);
});

Deno.test("sendFile streams: a file of many chunks, written as it arrives, two chunks in memory at most", async () => {
  await using p = await pair();
  const path = `${p.src}/huge.bin`;
  const chunks = 24;
  const size = chunks * FILE_CHUNK + 12_345;
  {
    using f = await Deno.open(path, { write: true, create: true });
    const block = new Uint8Array(FILE_CHUNK);
    for (let i = 0; i <= chunks; i++) {
      block.fill(i);
      let view = block.subarray(0, i < chunks ? FILE_CHUNK : 12_345);
      while (view.length > 0) view = view.subarray(await f.write(view));
    }
  }
  // At each chunk the receiver has written, its partial file holds exactly
  // what has arrived: it writes as it goes, it does not gather.
  const seen: number[] = [];
  const wrong: string[] = [];
  const net = networkOf(p.b)!;
  net.onFile = (e) => {
    if (e.type !== "written") return;
    seen.push(e.received);
    const on = Deno.statSync(e.part).size;
    if (on !== e.received) wrong.push(`${on} on disk after ${e.received} received`);
  };
  fileBuffers.peak = fileBuffers.now;
  try {
    assert.equal(await p.a.sendFile(p.b.location!, path), size);
  } finally {
    net.onFile = undefined;
  }
  assert.deepEqual(wrong, []);
  assert.equal(seen.length, chunks + 1);
  assert.equal(seen.at(-1), size);
  // Sender's read buffer and the receiver's chunk being written, no more.
  assert.ok(fileBuffers.peak <= 2 * FILE_CHUNK, `peak ${fileBuffers.peak} bytes buffered`);
  assert.ok(fileBuffers.peak >= FILE_CHUNK, `peak ${fileBuffers.peak}: nothing counted?`);
  assert.equal(fileBuffers.now, 0);
  assert.equal(
    await sha256Hex(await Deno.readFile(`${p.dest}/huge.bin`)),
    await sha256Hex(await Deno.readFile(path)),
  );
  // Sent again, the receiver hashes what it has a chunk at a time too.
  fileBuffers.peak = fileBuffers.now;
  assert.equal(await p.a.sendFile(p.b.location!, path), 0);
  assert.ok(fileBuffers.peak <= 2 * FILE_CHUNK, `peak ${fileBuffers.peak} bytes buffered`);
  assert.equal(fileBuffers.now, 0);
});

Deno.test("sendFile: a file that changes while it is sent is refused; the receiver keeps nothing", async () => {
  await using p = await pair();
  const path = `${p.src}/moving.bin`;
  await Deno.writeFile(path, new Uint8Array(3 * FILE_CHUNK));
  // Once the first chunk is in, the end of the file changes (same size):
  // the offer's hash no longer holds for what is sent.
  const net = networkOf(p.b)!;
  net.onFile = (e) => {
    if (e.type !== "written") return;
    net.onFile = undefined;
    using f = Deno.openSync(path, { write: true });
    f.seekSync(2 * FILE_CHUNK, Deno.SeekMode.Start);
    f.writeSync(new Uint8Array([1, 2, 3]));
  };
  await assert.rejects(p.a.sendFile(p.b.location!, path), /changed while it was sent/);
  await until(p.b, p.dest, []);
});

Deno.test("deleteFile removes a file sent earlier; refuses names and dirs outside destPath", async () => {
  await using p = await pair();
  await Deno.writeTextFile(`${p.src}/f.txt`, "x");
  await p.a.sendFile(p.b.location!, `${p.src}/f.txt`, { dir: "d" });
  assert.equal(await p.a.deleteFile(p.b.location!, "f.txt", { dir: "d" }), true);
  assert.equal(await p.a.deleteFile(p.b.location!, "f.txt", { dir: "d" }), false);
  await Deno.writeTextFile(`${p.src}/keep`, "keep");
  await assert.rejects(
    p.a.deleteFile(p.b.location!, "keep", { dir: `../${p.src.split("/").pop()}` }),
  );
  await assert.rejects(p.a.deleteFile(p.b.location!, "keep", { dir: p.src }));
  await assert.rejects(p.a.deleteFile(p.b.location!, ".."));
  await assert.rejects(p.a.deleteFile(p.b.location!, "a/b"));
  assert.equal(await Deno.readTextFile(`${p.src}/keep`), "keep");
});

Deno.test("sendFile: a dir leaving destPath is refused: '..', absolute, through a symlink", async () => {
  await using p = await pair();
  const outside = await Deno.makeTempDir({ prefix: "denocos-outside-" });
  try {
    await Deno.writeTextFile(`${p.src}/f.txt`, "x");
    for (const dir of ["..", "a/../..", "../../tmp", outside, "/tmp"]) {
      await assert.rejects(p.a.sendFile(p.b.location!, `${p.src}/f.txt`, { dir }), dir);
    }
    await Deno.symlink(outside, `${p.dest}/link`);
    await assert.rejects(p.a.sendFile(p.b.location!, `${p.src}/f.txt`, { dir: "link" }));
    await assert.rejects(p.a.sendFile(p.b.location!, `${p.src}/f.txt`, { dir: "link/deeper" }));
    await Deno.writeTextFile(`${outside}/victim`, "keep");
    await assert.rejects(p.a.deleteFile(p.b.location!, "victim", { dir: "link" }));
    // A symlink as the file itself is replaced, never written through.
    await Deno.symlink(`${outside}/victim`, `${p.dest}/f.txt`);
    await assert.rejects(p.a.sendFile(p.b.location!, `${p.src}/f.txt`), /exists/);
    assert.equal(await p.a.sendFile(p.b.location!, `${p.src}/f.txt`, { overwrite: true }), 1);
    assert.equal((await Deno.lstat(`${p.dest}/f.txt`)).isFile, true);
    assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["victim"]);
    assert.equal(await Deno.readTextFile(`${outside}/victim`), "keep");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("files from a hostile peer: oversized, truncated or corrupt transfers leave no file", async () => {
  await using p = await pair();
  const evil = await hostile(p.c.net.transport("evil"), p.b.location!);
  await using _e = evil;
  const body = new TextEncoder().encode("hello");
  const hash = await sha256Hex(body);
  let req = 1;
  const ask = async (m: unknown[]) => {
    evil.send(m);
    return await evil.next((r) => (r[0] === op.REPLY || r[0] === op.FAIL) && r[1] === m[1]);
  };
  const open = async (name: string) => {
    const r = req++;
    const answer = await ask([op.FILE_OPEN, r, name, "", body.length, null, null, hash, false]);
    assert.deepEqual(answer, [op.REPLY, r, "send"]);
    return r;
  };
  // More bytes than announced.
  const big = await open("big");
  assert.equal((await ask([op.FILE_DATA, req++, big, new Uint8Array(6)]))[0], op.FAIL);
  assert.equal((await ask([op.FILE_END, req++, big]))[0], op.FAIL);
  // Fewer.
  const short = await open("short");
  assert.equal((await ask([op.FILE_DATA, req++, short, body.subarray(0, 4)]))[0], op.REPLY);
  assert.equal((await ask([op.FILE_END, req++, short]))[0], op.FAIL);
  // Right size, wrong content.
  const bad = await open("bad");
  assert.equal(
    (await ask([op.FILE_DATA, req++, bad, new TextEncoder().encode("HELLO")]))[0],
    op.REPLY,
  );
  assert.equal((await ask([op.FILE_END, req++, bad]))[0], op.FAIL);
  // A chunk over the wire's chunk size, even within the announced size.
  const wide = req++;
  const wideBody = new Uint8Array(FILE_CHUNK + 1);
  assert.deepEqual(
    await ask([op.FILE_OPEN, wide, "wide", "", wideBody.length, null, null, hash, false]),
    [op.REPLY, wide, "send"],
  );
  assert.equal((await ask([op.FILE_DATA, req++, wide, wideBody]))[0], op.FAIL);
  assert.equal((await ask([op.FILE_END, req++, wide]))[0], op.FAIL);
  // And one good file, to show the link still works.
  const good = await open("good");
  assert.equal((await ask([op.FILE_DATA, req++, good, body]))[0], op.REPLY);
  assert.deepEqual(await ask([op.FILE_END, req++, good]), [op.REPLY, req - 1, true]);
  await until(p.b, p.dest, ["good"]);
  assert.ok(evil.online);
});

Deno.test("files: a peer lost mid-transfer leaves no partial file", async () => {
  await using p = await pair();
  const body = new Uint8Array(100);
  const hash = await sha256Hex(body);
  // Lost after a chunk.
  const one = await hostile(p.c.net.transport("evil1"), p.b.location!);
  one.send([op.FILE_OPEN, 1, "one", "", body.length, null, null, hash, false]);
  await one.next((m) => m[0] === op.REPLY && m[1] === 1);
  one.send([op.FILE_DATA, 2, 1, body.subarray(0, 50)]);
  await one.next((m) => m[0] === op.REPLY && m[1] === 2);
  await one.hub.close();
  await until(p.b, p.dest, []);
  // Lost while the file was being opened.
  const two = await hostile(p.c.net.transport("evil2"), p.b.location!);
  two.send([op.FILE_OPEN, 1, "two", "", body.length, null, null, hash, false]);
  await two.hub.close();
  // Then a third transfer completes, so the second one's open has settled.
  const three = await hostile(p.c.net.transport("evil3"), p.b.location!);
  await using _3 = three;
  three.send([op.FILE_OPEN, 1, "three", "", body.length, null, null, hash, false]);
  await three.next((m) => m[0] === op.REPLY && m[1] === 1);
  three.send([op.FILE_DATA, 2, 1, body]);
  three.send([op.FILE_END, 3, 1]);
  await three.next((m) => m[0] === op.REPLY && m[1] === 3);
  await until(p.b, p.dest, ["three"]);
});

Deno.test("sendFile to a peer lost mid-transfer rejects PeerLost; the receiver keeps nothing", async () => {
  await using p = await pair();
  const path = `${p.src}/big.bin`;
  await Deno.writeFile(path, new Uint8Array(8 * 1024 * 1024));
  // Cut the sender's host off once the transfer is under way: a chunk is
  // in the receiver's partial file.
  const written = firstEvent(p.b, "written");
  const sending = p.a.sendFile(p.b.location!, path);
  await written;
  p.c.net.kill("a");
  await assert.rejects(sending);
  // The last chunk may have got there before the kill (only the answer
  // lost): then the whole file is in place. Never a partial one.
  let left: string[] = [];
  await whenFiles(p.b, async () => {
    left = await names(p.dest);
    return !left.some((n) => n.includes(".part"));
  }, "the partial file to go");
  assert.ok(left.length === 0 || (left.length === 1 && left[0] === "big.bin"), `${left}`);
  if (left.length === 1) assert.equal((await Deno.stat(`${p.dest}/big.bin`)).size, 8 << 20);
});

Deno.test("files: a peer opening transfers without end is refused past a cap; nothing stays", async () => {
  await using p = await pair();
  const evil = await hostile(p.c.net.transport("evil"), p.b.location!);
  const hash = await sha256Hex(new Uint8Array(1));
  for (let r = 1; r <= 200; r++) {
    evil.send([op.FILE_OPEN, r, `f${r}`, "", 1, null, null, hash, false]);
  }
  let refused = 0;
  for (let r = 1; r <= 200; r++) {
    const m = await evil.next((x) => (x[0] === op.REPLY || x[0] === op.FAIL) && x[1] === r);
    if (m[0] === op.FAIL) refused++;
  }
  assert.ok(refused >= 200 - 64, `only ${refused} refused`);
  assert.ok(evil.online);
  await evil.hub.close();
  await until(p.b, p.dest, []);
});

Deno.test("sendFile that gives up mid-transfer (timeout) leaves no partial file at the receiver", async () => {
  const src = await Deno.makeTempDir({ prefix: "denocos-src-" });
  const dest = await Deno.makeTempDir({ prefix: "denocos-dest-" });
  try {
    await using c = new Cluster();
    const a = await c.add({ host: "a", peerTimeout: 5000 });
    const b = await c.add({ host: "b", destPath: dest, peerTimeout: 5000 });
    await a.peer({ hostname: "b", port: 9705 });
    const path = `${src}/big.bin`;
    await Deno.writeFile(path, new Uint8Array(32 * 1024 * 1024));
    // The timeout is long enough for the transfer to start under load.
    const written = firstEvent(b, "written");
    const sending = a.sendFile(b.location!, path, { timeout: 2000 });
    await written;
    c.net.partition("a", "b");
    await assert.rejects(sending);
    c.net.heal();
    await until(b, dest, []);
  } finally {
    await Deno.remove(src, { recursive: true });
    await Deno.remove(dest, { recursive: true });
  }
});

Deno.test("files: two peers sending one name at once each get their own partial file", async () => {
  await using p = await pair();
  const one = await hostile(p.c.net.transport("evil1"), p.b.location!);
  await using _1 = one;
  const two = await hostile(p.c.net.transport("evil2"), p.b.location!);
  await using _2 = two;
  const enc = new TextEncoder();
  const bodies = [enc.encode("aaaaa"), enc.encode("bbbbb")];
  const peers = [one, two];
  // The same request number from both: each peer counts its own.
  for (let i = 0; i < 2; i++) {
    const hash = await sha256Hex(bodies[i]);
    peers[i].send([op.FILE_OPEN, 1, "same", "", 5, null, null, hash, true]);
    await peers[i].next((m) => m[0] === op.REPLY && m[1] === 1);
  }
  for (let i = 0; i < 2; i++) {
    peers[i].send([op.FILE_DATA, 2, 1, bodies[i]]);
    await peers[i].next((m) => m[0] === op.REPLY && m[1] === 2);
  }
  const answers = [];
  for (let i = 0; i < 2; i++) {
    peers[i].send([op.FILE_END, 3, 1]);
    answers.push((await peers[i].next((m) => m[1] === 3))[0]);
  }
  assert.deepEqual(answers, [op.REPLY, op.REPLY]);
  assert.equal(await Deno.readTextFile(`${p.dest}/same`), "bbbbb");
  await until(p.b, p.dest, ["same"]);
});

Deno.test("files: a FILE_OPEN reusing an open transfer's number is refused; nothing leaks", async () => {
  await using p = await pair();
  const evil = await hostile(p.c.net.transport("evil"), p.b.location!);
  const hash = await sha256Hex(new Uint8Array(1));
  evil.send([op.FILE_OPEN, 1, "x", "", 1, null, null, hash, false]);
  assert.equal((await evil.next((m) => m[1] === 1))[0], op.REPLY);
  evil.send([op.FILE_OPEN, 1, "y", "", 1, null, null, hash, false]);
  assert.equal((await evil.next((m) => m[1] === 1))[0], op.FAIL);
  await evil.hub.close();
  await until(p.b, p.dest, []);
});
