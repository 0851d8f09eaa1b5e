/**
 * `denocos __server`: the hidden subcommand that makes this process a
 * node's compute server (how a compiled binary starts its servers). A
 * `ServerProcess` started through it runs jobs as through `_server_main.ts`.
 */
import assert from "node:assert/strict";
import { isServerInvocation } from "../../cli/main.ts";
import { ServerProcess } from "../../src/compute/_server_process.ts";

Deno.test("cli __server: a compute server started through the command runs jobs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denocos-cli-" });
  try {
    await Deno.writeTextFile(
      `${dir}/job.ts`,
      "export function double(_task: unknown, n: number): number {\n  return n * 2;\n}\n",
    );
    const server = await ServerProcess.start({
      codeDir: dir,
      entry: "job.ts",
      script: new URL("./fixtures/server_via_cli.ts", import.meta.url),
    });
    try {
      assert.equal(await server.run(1, "double", [21]), 42);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli __server: a compiled binary also knows the node's `run … _server_main.ts` form", () => {
  const asNode = [
    "run",
    "--quiet",
    "--no-prompt",
    "--unstable-worker-options",
    "--v8-flags=--max-old-space-size=512",
    "--allow-read=/tmp/x",
    "file:///tmp/deno-compile-denocos/src/compute/_server_main.ts",
  ];
  assert.equal(isServerInvocation(["__server"], false), true);
  assert.equal(isServerInvocation(asNode, true), true);
  assert.equal(isServerInvocation(asNode, false), false); // under `deno run`: a user's `run`
  assert.equal(isServerInvocation(["run", "jobs.ts", "_server_main.ts"], true), false);
  assert.equal(isServerInvocation(["run", "src/compute/_server_main.ts", "f"], true), false);
});
