/**
 * The core works whichever of its modules a program imports first: the
 * scheduler module alone, or the internal entry the layers above use.
 *
 * @module
 */
import assert from "node:assert/strict";

const fixture = new URL("./fixtures/scheduler_only.ts", import.meta.url);

async function run(which: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", fixture.pathname, which],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

for (const which of ["scheduler", "internal"]) {
  Deno.test(`entry: importing only ${which} and spawning works`, async () => {
    const r = await run(which);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "spawned 42");
    assert.equal(r.stderr, "");
  });
}
