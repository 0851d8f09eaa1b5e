/**
 * The codec needs no Deno permission: msgpackr is loaded through its pure
 * JavaScript entry, never through the Node entry that reads the environment
 * and tries the native `msgpackr-extract` addon (FFI).
 */
import assert from "node:assert/strict";

Deno.test("codec: imports, encodes and decodes with no permission at all", async () => {
  const root = new URL("../../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    // --no-prompt: a permission request fails the run instead of waiting.
    args: ["run", "--no-prompt", "tests/net/fixtures/codec_no_permissions.ts"],
    cwd: root,
    env: { NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.doesNotMatch(stderr, /allow-|NotCapable|PermissionDenied/);
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
  assert.deepEqual(JSON.parse(line), { ok: true, native: false });
});
