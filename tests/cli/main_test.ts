/** `denocos --help` for each subcommand, and bad usage: exit 2 with one line on stderr. */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";

Deno.test("cli: --help for the command and each subcommand", async () => {
  const top = await cli(["--help"]);
  assert.equal(top.code, 0, top.stderr);
  for (const sub of ["node", "scheduler", "status", "run"]) {
    assert.match(top.stdout, new RegExp(sub));
  }
  for (const sub of ["node", "scheduler", "status", "run"]) {
    const r = await cli([sub, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: denocos ${sub} `));
    assert.match(r.stdout, /--secret-file <file>/);
    assert.match(r.stdout, /--log-level <level>/);
  }
});

Deno.test("cli: bad usage exits 2 with a one-line reason", async () => {
  const cases: [string[], RegExp][] = [
    [["node", "--bogus"], /unknown option '--bogus'/],
    [["node", "--peer", "no:port"], /'no:port' is not HOST:PORT/],
    [["node", "--port", "70000"], /'70000' is not an integer/],
    [["node", "--secret-file", "/nonexistent/secret"], /--secret-file: cannot read/],
    [["node", "--tls-cert", "cert.pem"], /--tls-cert and --tls-key go together/],
    [["scheduler", "--node", "a:b:c"], /is not HOST:PORT/],
    [["status", "--log-level", "loud"], /--log-level/],
    [["run"], /missing required argument 'module'/],
    [["run", "/nonexistent/jobs.ts", "f"], /MODULE: cannot read/],
    [
      ["run", "tests/cli/fixtures/cli_jobs.ts", "add", "--inputs", "/nonexistent.jsonl"],
      /--inputs/,
    ],
    [["frobnicate"], /unknown command 'frobnicate'/],
  ];
  for (const [args, reason] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0], /^denocos: /);
    assert.match(lines[0], reason);
  }
});

Deno.test("cli: a scheduler or node that cannot be reached is a failure (exit 1), one line", async () => {
  // Port 1: nothing listens there, and unlike a just-freed ephemeral port it
  // cannot become the client's own listening port (which it dials from port 0).
  const port = 1;
  for (
    const args of [
      ["status", "--scheduler", `127.0.0.1:${port}`],
      ["run", "tests/cli/fixtures/cli_jobs.ts", "add", "--node", `127.0.0.1:${port}`],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^denocos: cannot reach 127\.0\.0\.1:\d+.*\n$/);
  }
});
