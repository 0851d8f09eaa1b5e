/**
 * The dashboard end to end in headless Chromium (Debian's `chromium`,
 * driven by playwright-core, which never downloads a browser): runs
 * fixtures/browser_e2e.ts as its own program and expects it to pass.
 * Skipped when /usr/bin/chromium is absent (`.ci/run` installs it). With
 * `DENOCOS_SCREENSHOT=path` the program also saves a screenshot there.
 */
import assert from "node:assert/strict";

const CHROMIUM = "/usr/bin/chromium";
const E2E = new URL("./fixtures/browser_e2e.ts", import.meta.url);

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "dashboard in Chromium: jobs appear and finish, terminate works, lost and back",
  ignore: !hasChromium(),
  async fn() {
    const shot = Deno.env.get("DENOCOS_SCREENSHOT");
    // Only kills a hung run (which then fails the test); never a timing assertion.
    const limit = AbortSignal.timeout(180_000);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        "--unstable-worker-options",
        E2E.pathname,
        ...(shot ? [shot] : []),
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      signal: limit,
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /^e2e ok$/m);
  },
});
