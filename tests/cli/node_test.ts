/**
 * `denocos node` as a real process: its listening line, a clean stop on
 * SIGTERM, and the cluster secret from `--secret-file` or `DENOCOS_SECRET`
 * (a client with the wrong one is refused).
 */
import assert from "node:assert/strict";
import { Scheduler, TaskTerminated } from "../../mod.ts";
import { Computation } from "../../src/compute/mod.ts";
import { cli, CliProcess } from "./_cli.ts";

const JOBS = "tests/cli/fixtures/cli_jobs.ts";

Deno.test("cli node: prints its listening line and stops on SIGTERM with exit 0", async () => {
  await using node = await CliProcess.start(["node", "--port", "0", "--cpus", "2", "--name", "n1"]);
  assert.match(node.line, /^node n1 listening on 127\.0\.0\.1:\d+ with 2 servers$/);
  const { status } = await node.stop();
  assert.equal(status.code, 0);
  assert.equal(status.signal, null);
});

Deno.test("cli node: the secret from --secret-file or DENOCOS_SECRET; a wrong one is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denocos-cli-" });
  try {
    const file = `${dir}/secret`;
    await Deno.writeTextFile(file, "s3cret\n");
    await using node = await CliProcess.start([
      "node",
      "--port",
      "0",
      "--cpus",
      "1",
      "--secret-file",
      file,
    ]);
    const args = ["run", JOBS, "add", "--node", node.address, "--json", "--timeout", "20000"];
    const fromEnv = await cli(args, { DENOCOS_SECRET: "s3cret" });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.deepEqual(JSON.parse(fromEnv.stdout), { input: [], ok: true, value: 0 });
    const fromFile = await cli([...args, "--secret-file", file]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const wrong = await cli(args, { DENOCOS_SECRET: "guess" });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stdout, "");
    assert.match(wrong.stderr, /^denocos: .*(authenticat|secret)/i);
    const none = await cli(args);
    assert.equal(none.code, 1);
    // The node is still up and serves the right secret.
    assert.equal((await cli(args, { DENOCOS_SECRET: "s3cret" })).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli node: SIGTERM terminates the running jobs and their clients hear it", async () => {
  await using node = await CliProcess.start(["node", "--port", "0", "--cpus", "1"]);
  const client = new Scheduler();
  await client.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await using comp = new Computation({
      module: new URL("./fixtures/cli_jobs.ts", import.meta.url),
      scheduler: client,
      nodes: [{ hostname: "127.0.0.1", port: node.port }],
    });
    await comp.schedule({ timeout: 30_000 });
    const job = await comp.run("hang");
    const ended = job.finish({ timeout: 30_000 }).then(() => "returned", (e: unknown) => e);
    const { status } = await node.stop();
    assert.equal(status.code, 0);
    const e = await ended;
    assert.ok(e instanceof TaskTerminated, String(e));
  } finally {
    await client.finish();
  }
});
