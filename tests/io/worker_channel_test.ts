/**
 * `_worker_channel.ts` with a real Worker (`fixtures/channel_worker.js`):
 * the private port carries the protocol, the Worker's own `postMessage` is
 * noise, and a message that breaks the rules terminates the Worker.
 *
 * @module
 */
import assert from "node:assert/strict";
import { WorkerChannel } from "../../src/io/_worker_channel.ts";
import { LIMIT } from "./_net_util.ts";

const SCRIPT = new URL("./fixtures/channel_worker.js", import.meta.url);

/** What a channel reported, and a way to wait for the next report. */
class Recorder {
  readonly messages: unknown[][] = [];
  readonly violations: string[] = [];
  readonly errors: string[] = [];
  noises = 0;
  #wake: (() => void) | null = null;
  message(d: unknown[]): void {
    this.messages.push(d);
    this.#wake?.();
  }
  error(e: ErrorEvent): void {
    this.errors.push(e.message);
    this.#wake?.();
  }
  noise(): void {
    this.noises++;
    this.#wake?.();
  }
  violation(reason: string): void {
    this.violations.push(reason);
    this.#wake?.();
  }
  /** Resolves once `ready()` holds, failing the test after LIMIT. */
  async until(ready: () => boolean): Promise<void> {
    const deadline = Date.now() + LIMIT;
    while (!ready()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve;
        timer = setTimeout(() => reject(new Error("no report in time")), deadline - Date.now());
      }).finally(() => clearTimeout(timer));
    }
    this.#wake = null;
  }
}

async function withChannel(
  fn: (ch: WorkerChannel, r: Recorder) => Promise<void>,
  check?: (d: unknown[]) => string | undefined,
): Promise<void> {
  const r = new Recorder();
  const ch = new WorkerChannel(SCRIPT, r, {
    name: "channel-test",
    permissions: "none",
    init: { hello: "world" },
    maxLength: 4,
    check,
  });
  try {
    await r.until(() => r.messages.length === 1);
    assert.deepEqual(r.messages[0], [0, "open", { hello: "world" }]);
    await fn(ch, r);
  } finally {
    ch.close();
  }
}

Deno.test("worker channel: init, messages both ways in order; noise is counted, never delivered", async () => {
  await withChannel(async (ch, r) => {
    for (let i = 0; i < 100; i++) ch.post([0, "echo", i]);
    ch.post([0, "noise", [1, "looks like protocol"]]);
    ch.post([0, "noise", null]);
    ch.post([0, "echo", "last"]);
    await r.until(() => r.messages.length === 102);
    assert.deepEqual(r.messages.slice(1, 4), [[1, 0], [1, 1], [1, 2]]);
    assert.deepEqual(r.messages[101], [1, "last"]);
    assert.equal(r.violations.length, 0);
    assert.ok(!ch.closed);
    // Noise travels on the other channel: it may come after the last answer.
    ch.post([0, "noise", "x"]);
    ch.post([0, "send", [2, "after noise"]]);
    await r.until(() => r.messages.length === 103 && r.noises === 3);
    assert.equal(ch.noise, 3);
    assert.deepEqual(r.messages[102], [2, "after noise"]);
  });
});

Deno.test("worker channel: a message out of shape terminates the Worker", async () => {
  for (const bad of [[], ["x"], [1.5], [Number.MAX_SAFE_INTEGER + 2], [null], [1, 2, 3, 4, 5]]) {
    await withChannel(async (ch, r) => {
      ch.post([0, "send", bad]);
      await r.until(() => r.violations.length === 1);
      assert.ok(ch.closed);
      ch.post([0, "echo", 1]); // ignored once closed
      assert.equal(r.messages.length, 1);
    });
  }
});

Deno.test("worker channel: the protocol's check and fail() terminate the Worker too", async () => {
  await withChannel(async (ch, r) => {
    ch.post([0, "send", [7, "refused"]]);
    await r.until(() => r.violations.length === 1);
    assert.match(r.violations[0], /seven/);
    assert.ok(ch.closed);
  }, (d) => (d[0] === 7 ? "seven is not a message" : undefined));
  await withChannel((ch, r) => {
    ch.fail("the owner says so");
    assert.deepEqual(r.violations, ["the owner says so"]);
    ch.fail("again"); // once only
    assert.equal(r.violations.length, 1);
    assert.ok(ch.closed);
    return Promise.resolve();
  });
});

Deno.test("worker channel: an uncaught error in the Worker is reported, not thrown at the process", async () => {
  await withChannel(async (ch, r) => {
    ch.post([0, "throw", "boom"]);
    await r.until(() => r.errors.length === 1);
    assert.match(r.errors[0], /boom/);
  });
});
