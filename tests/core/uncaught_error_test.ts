/**
 * A task error nobody observes (no monitor, no `finish` caller) is not
 * silent: by default it is printed on stderr with the task's name and the
 * stack; `Scheduler.onUncaughtError` routes it elsewhere, and an app that
 * configured LogTape for `["denocos", "task"]` gets it there only.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

const fixture = new URL("./fixtures/unobserved_error.ts", import.meta.url);

async function runFixture(mode: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", fixture.pathname, mode],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("uncaught: an unobserved task error is printed with the task's name and stack", async () => {
  const r = await runFixture("default");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /unwatchedWorker/);
  assert.match(r.stderr, /nobody is watching/);
  assert.match(r.stderr, /at deepInside/);
  assert.match(r.stdout, /after: failed/);
});

Deno.test("uncaught: onUncaughtError routes it and nothing is printed", async () => {
  const r = await runFixture("routed");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /routed: unwatchedWorker: nobody is watching/);
  assert.equal(r.stderr, "");
});

Deno.test("uncaught: with LogTape configured for denocos.task it goes there only", async () => {
  const r = await runFixture("logtape");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logtape: denocos\.task error/);
  assert.equal(r.stderr, "");
});

Deno.test("uncaught: a monitor or a finish caller observes the error; the hook is not called", async () => {
  const seen: string[] = [];
  await withScheduler(async (s) => {
    s.onUncaughtError = (error, task) =>
      void seen.push(`${task.name}: ${(error as Error).message}`);
    const watched = s.spawn(function watched() {
      throw new Error("w");
    });
    const watcher = s.spawn((task) => task.receive());
    watcher.monitor(watched);
    const finished = s.spawn(function finished() {
      throw new Error("f");
    });
    const finishing = finished.finish().catch((e: Error) => e.message);
    const lonely = s.spawn(function lonely() {
      throw new Error("l");
    });
    assert.equal(await finishing, "f");
    assert.equal((await watcher.finish({ timeout: LIMIT }) as { type: string }).type, "failed");
    await assert.rejects(lonely.finish({ timeout: LIMIT }), /l/);
  });
  assert.deepEqual(seen, ["lonely: l"]);
});

Deno.test("uncaught: a throwing hook is reported, never stops the task's end", async () => {
  await withScheduler(async (s) => {
    const original = console.error;
    const printed: unknown[][] = [];
    console.error = (...args: unknown[]) => void printed.push(args);
    try {
      s.onUncaughtError = (_error: unknown, _task: Task) => {
        throw new Error("hook broke");
      };
      const t = s.spawn(function failing() {
        throw new Error("task broke");
      });
      await s.join({ timeout: LIMIT });
      assert.equal(t.state, "failed");
    } finally {
      console.error = original;
    }
    const text = printed.map((a) => a.map(String).join(" ")).join("\n");
    assert.match(text, /hook broke/);
    assert.match(text, /task broke/);
  });
});
