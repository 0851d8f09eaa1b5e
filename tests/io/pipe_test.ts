/**
 * `AsyncPipe` against real programs: cat, grep, wc, sh, head, yes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AsyncPipe, MessageTooLarge, Scheduler, TimeoutError } from "../../mod.ts";
import { dec, LIMIT } from "./_net_util.ts";
import { terminateWhileWaiting, withScheduler } from "../core/_util.ts";

Deno.test("pipe: write, readLine and read through cat; end of stream; exit status", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler, stderr: "null" });
    assert.deepEqual(await cat.write("hello\r\nworld\n", { timeout: LIMIT }), 13);
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "hello");
    assert.deepEqual(await cat.readLine({ keepEnd: true, timeout: LIMIT }), "world\n");
    await cat.write(new Uint8Array([1, 2, 3]));
    await cat.closeStdin({ timeout: LIMIT });
    const bytes: number[] = [];
    for (let chunk; (chunk = await cat.read(2, { timeout: LIMIT })).length > 0;) {
      assert(chunk.length <= 2);
      bytes.push(...chunk);
    }
    assert.deepEqual(bytes, [1, 2, 3]);
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), null);
    const status = await cat.wait({ timeout: LIMIT });
    assert.deepEqual(status.code, 0);
    await assert.rejects(() => cat.write("late"), Deno.errors.BadResource);
    await cat.close();
    await assert.rejects(() => cat.read(), Deno.errors.BadResource);
  });
});

Deno.test("pipe: communicate feeds input and collects stdout, stderr and the exit code", async () => {
  await withScheduler(async (scheduler) => {
    const sh = AsyncPipe.spawn("sh", ["-c", "cat; echo oops >&2; exit 3"], { scheduler });
    const out = await sh.communicate("some input", { timeout: LIMIT });
    assert.deepEqual(out.code, 3);
    assert.deepEqual(out.success, false);
    assert.deepEqual(out.signal, null);
    assert.deepEqual(dec.decode(out.stdout), "some input");
    assert.deepEqual(dec.decode(out.stderr), "oops\n");
    await sh.close();

    const exit3 = AsyncPipe.spawn("sh", ["-c", "exit 3"], { scheduler });
    // The child never reads its stdin: the input must not make communicate fail.
    const r = await exit3.communicate(new Uint8Array(1 << 20), { timeout: LIMIT });
    assert.deepEqual(r.code, 3);
    assert.deepEqual(r.stdout.length, 0);
    await exit3.close();
  });
});

Deno.test("pipe: communicate moves a megabyte through cat both ways at once", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    const data = new Uint8Array(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
    const chunks = (function* () {
      for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000);
    })();
    const out = await cat.communicate(chunks, { timeout: LIMIT });
    assert.deepEqual(out.code, 0);
    assert.deepEqual(out.stdout, data);
    await cat.close();
  });
});

Deno.test("pipe: communicate refuses output over maxOutput", async () => {
  await withScheduler(async (scheduler) => {
    const sh = AsyncPipe.spawn("sh", ["-c", "head -c 5000 /dev/zero"], { scheduler });
    await assert.rejects(
      () => sh.communicate(undefined, { maxOutput: 1000, timeout: LIMIT }),
      MessageTooLarge,
    );
    await sh.close();
  });
});

Deno.test("pipe: grep | wc -l through pipeTo", async () => {
  await withScheduler(async (scheduler) => {
    const grep = AsyncPipe.spawn("grep", ["--line-buffered", "denocos"], { scheduler });
    const wc = AsyncPipe.spawn("wc", ["-l"], { scheduler });
    const chain = grep.pipeTo(wc);
    assert.deepEqual(chain.pids.length, 2);
    await assert.rejects(() => grep.read(), TypeError);
    await assert.rejects(() => wc.write("x"), TypeError);
    for (let i = 0; i < 100; i++) {
      await chain.write(i % 3 === 0 ? `denocos ${i}\n` : `other ${i}\n`);
    }
    await chain.closeStdin();
    assert.deepEqual(await chain.readLine({ timeout: LIMIT }), "34");
    assert.deepEqual((await chain.wait({ timeout: LIMIT })).code, 0);
    await chain.close();
    assert.deepEqual((await grep.status).code, 0);
  });
});

Deno.test("pipe: a chain whose last process stops reading early (yes | head -n 2)", async () => {
  await withScheduler(async (scheduler) => {
    const chain = AsyncPipe.spawn("yes", [], { scheduler, stdin: "null" })
      .pipeTo(AsyncPipe.spawn("head", ["-n", "2"], { scheduler }));
    const out = await chain.communicate(undefined, { timeout: LIMIT });
    assert.deepEqual(dec.decode(out.stdout), "y\ny\n");
    assert.deepEqual(out.code, 0);
    await chain.close();
  });
});

Deno.test("pipe: a task terminated while it waits on read gets TaskTerminated; no byte is lost", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    await terminateWhileWaiting(scheduler, () => cat.readLine());
    // The read it started is still under way: what arrives goes to the next reader.
    await cat.write("first\nsecond\n");
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "first");
    const next = scheduler.spawn(async () => await cat.readLine({ timeout: LIMIT }));
    assert.deepEqual(await next.finish(), "second");
    await cat.close();
  });
});

Deno.test("pipe: a timed-out read rejects with TimeoutError and takes nothing", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    await assert.rejects(() => cat.read(100, { timeout: 1 }), TimeoutError);
    const controller = new AbortController();
    const aborted = cat.readLine({ signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(aborted, /stop/);
    await cat.write("kept\n");
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "kept");
    await assert.rejects(() => cat.read(0), RangeError);
    await assert.rejects(() => cat.read(1, { timeout: -1 }), RangeError);
    await cat.close();
  });
});

Deno.test("pipe: a line longer than maxLength rejects with MessageTooLarge and stays buffered", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    await cat.write("0123456789\nok\n");
    await assert.rejects(() => cat.readLine({ maxLength: 5, timeout: LIMIT }), MessageTooLarge);
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "0123456789");
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "ok");
    await cat.close();
  });
});

Deno.test("pipe: stderr is read on its own", async () => {
  await withScheduler(async (scheduler) => {
    const sh = AsyncPipe.spawn("sh", ["-c", "echo out; echo err1 >&2; echo err2 >&2"], {
      scheduler,
      stdin: "null",
    });
    assert.deepEqual(await sh.readLineStderr({ timeout: LIMIT }), "err1");
    assert.deepEqual(dec.decode(await sh.readStderr(100, { timeout: LIMIT })), "err2\n");
    assert.deepEqual(await sh.readLine({ timeout: LIMIT }), "out");
    assert.deepEqual((await sh.wait({ timeout: LIMIT })).code, 0);
    await assert.rejects(() => sh.closeStdin().then(() => sh.write("x")), TypeError);
    await sh.close();
  });
});

Deno.test("pipe: kill sends a signal; close kills and ends pending reads", async () => {
  await withScheduler(async (scheduler) => {
    const sleeper = AsyncPipe.spawn("sleep", ["60"], { scheduler });
    sleeper.kill("SIGTERM");
    assert.deepEqual((await sleeper.wait({ timeout: LIMIT })).signal, "SIGTERM");
    sleeper.kill(); // exited already: ignored
    await sleeper.close();

    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    const pending = assert.rejects(cat.read(), Deno.errors.BadResource);
    await cat.close();
    await pending;
    assert.deepEqual((await cat.status).signal, "SIGKILL");
  });
});

Deno.test("pipe: the owning scheduler's finish() closes the pipe", async () => {
  await withScheduler(async (scheduler) => {
    const cat = AsyncPipe.spawn("cat", [], { scheduler });
    await scheduler.finish();
    assert(cat.closed);
    assert.deepEqual((await cat.status).signal, "SIGKILL");
  });
});

Deno.test("pipe: spawning a missing program throws NotFound", () => {
  const scheduler = new Scheduler();
  assert.throws(
    () => AsyncPipe.spawn("/nonexistent/denocos-no-such-program", [], { scheduler }),
    Deno.errors.NotFound,
  );
});

Deno.test("pipe: `await using` closes the pipe", async () => {
  let pipe: AsyncPipe;
  {
    await using cat = AsyncPipe.spawn("cat", [], { scheduler: new Scheduler() });
    pipe = cat;
    await cat.write("x\n");
    assert.deepEqual(await cat.readLine({ timeout: LIMIT }), "x");
  }
  assert(pipe.closed);
  assert.deepEqual((await pipe.status).signal, "SIGKILL");
});

Deno.test("pipe: a terminated task's communicate leaves the output for the next reader", async () => {
  await withScheduler(async (scheduler) => {
    const sh = AsyncPipe.spawn("sh", ["-c", "read x; echo got $x"], { scheduler });
    await terminateWhileWaiting(scheduler, () => sh.communicate());
    // communicate had closed stdin, so `read` got end of input.
    assert.deepEqual(await sh.readLine({ timeout: LIMIT }), "got");
    await sh.close();
  });
});

Deno.test("pipe: a write blocked on a full pipe: terminate interrupts the wait, close ends the write", async () => {
  await withScheduler(async (scheduler) => {
    // `sleep` never reads its stdin: a big write stays blocked.
    const sleeper = AsyncPipe.spawn("sleep", ["60"], { scheduler });
    await terminateWhileWaiting(scheduler, () => sleeper.write(new Uint8Array(4 << 20)));
    const blocked = assert.rejects(sleeper.write("more"), Deno.errors.BadResource);
    await sleeper.close();
    await blocked;
  });
});
