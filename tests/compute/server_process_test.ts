import assert from "node:assert/strict";
import { TaskTerminated } from "../../src/core/mod.ts";
import {
  type ServerExit,
  ServerFailed,
  ServerProcess,
  type ServerProcessOptions,
} from "../../src/compute/_server_process.ts";

const JOBS = new URL("./fixtures/server_jobs.ts", import.meta.url);

/** A fresh code folder holding the job module as `jobs.ts`. */
async function codeDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "denocos-server-" });
  await Deno.copyFile(JOBS, `${dir}/jobs.ts`);
  return dir;
}

async function withServer(
  options: Partial<ServerProcessOptions>,
  body: (s: ServerProcess, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await codeDir();
  try {
    const s = await ServerProcess.start({ codeDir: dir, entry: "jobs.ts", ...options });
    try {
      await body(s, dir);
    } finally {
      await s.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A host object handed to jobs (the codec asks \`isRef\` about class instances only). */
class Probe {
  constructor(readonly name: string) {}
  send(): boolean {
    return true;
  }
}

/** A promise and the function that resolves it. */
function signal<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("ServerProcess: jobs return, throw, and see the server setup", async () => {
  await withServer({ serverSetup: "serverSetup", setupArgs: [5] }, async (s) => {
    assert.deepEqual(await s.run(1, "echo", [{ a: [1, 2n], m: new Map([[1, "x"]]) }]), {
      a: [1, 2n],
      m: new Map([[1, "x"]]),
    });
    assert.equal(await s.run(2, "add", [1, 2]), 3);
    const e = await s.run(3, "fail", ["boom"]).catch((e: Error) => e) as Error;
    assert.ok(e instanceof RangeError); // the language's errors keep their class
    assert.equal(e.message, "boom");
    const setup = await s.run(4, "setupValue", []) as { base: number; pid: number };
    assert.equal(setup.base, 5);
    assert.equal(setup.pid, s.pid);
    assert.equal(await s.run(5, "logs", []), "ok");
    const missing = await s.run(6, "nothing", []).catch((e: Error) => e) as Error;
    assert.match(missing.message, /not a function/);
    // Too large for a frame: refused at once, before anything is sent.
    const big = "x".repeat(16 * 1024 * 1024 - 1);
    await assert.rejects(s.run(7, "echo", [[big, big, big, big]]), RangeError);
    assert.equal(await s.run(7, "echo", ["fine"]), "fine");
    assert.equal(s.busy, 0);
  });
});

Deno.test("ServerProcess: messages host → job and job → host reference, in order", async () => {
  const got: unknown[] = [];
  const done = signal<void>();
  const client = new Probe("client");
  await withServer({
    isRef: (v) => v === client,
    onJobMessage(target, message, jobId) {
      assert.equal(target, client);
      assert.equal(jobId, 7);
      got.push(message);
      if (got.length === 101) done.resolve();
    },
  }, async (s) => {
    const result = s.run(7, "relay", [client, 100]);
    for (let i = 0; i < 100; i++) assert.equal(s.send(7, i), true);
    await done.promise;
    assert.equal(await result, "relayed");
    assert.deepEqual(got.slice(0, 100), Array.from({ length: 100 }, (_, i) => i * 2));
    assert.deepEqual(got[100], { me: { jobId: 7 } });
    assert.equal(s.send(7, "late"), false);
  });
});

Deno.test("ServerProcess: a hanging job is terminated", async () => {
  await withServer({}, async (s) => {
    const h = s.run(1, "hang", []);
    assert.equal(await s.run(2, "echo", ["running"]), "running");
    assert.equal(s.terminate(1), true);
    await assert.rejects(h, TaskTerminated);
    assert.equal(await s.run(3, "echo", ["next"]), "next");
    const ac = new AbortController();
    const h2 = s.run(4, "hang", [], { signal: ac.signal });
    assert.equal(await s.run(5, "echo", ["running"]), "running");
    ac.abort();
    await assert.rejects(h2, TaskTerminated);
    assert.equal(s.terminate(4), false);
    assert.equal(s.busy, 0);
  });
});

Deno.test("ServerProcess: a job in a synchronous loop is killed after the grace period", async () => {
  const restarted = signal<string>();
  const spinning = signal<void>();
  const probe = new Probe("probe");
  await withServer({
    graceMs: 100,
    isRef: (v) => v === probe,
    onJobMessage: () => spinning.resolve(),
    onRestart: restarted.resolve,
  }, async (s) => {
    const other = s.run(1, "hang", []);
    const spin = s.run(2, "spinAfter", [probe]);
    await spinning.promise;
    assert.equal(s.terminate(2), true);
    await assert.rejects(spin, TaskTerminated);
    // The other job in the killed Worker is lost too, and says why.
    await assert.rejects(other, /Worker was replaced/);
    assert.match(await restarted.promise, /did not end within 100 ms/);
    assert.equal(await s.run(3, "echo", ["after"]), "after");
    assert.equal(s.closed, false);
    assert.equal(s.restarts, 1);
  });
});

Deno.test("ServerProcess: close() stops a server whose job never yields", async () => {
  const spinning = signal<void>();
  const exited = signal<ServerExit>();
  const probe = new Probe("probe");
  const dir = await codeDir();
  try {
    const s = await ServerProcess.start({
      codeDir: dir,
      entry: "jobs.ts",
      isRef: (v) => v === probe,
      onJobMessage: () => spinning.resolve(),
      onExit: exited.resolve,
    });
    const spin = s.run(1, "spinAfter", [probe]);
    await spinning.promise;
    await s.close();
    await assert.rejects(spin, ServerFailed);
    assert.equal((await exited.promise).reason, "closed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ServerProcess: a job that closes its Worker gets it replaced", async () => {
  const restarts: string[] = [];
  await withServer({ onRestart: (r) => restarts.push(r) }, async (s) => {
    assert.equal(await s.run(1, "throwLater", []), "survived");
    await assert.rejects(s.run(2, "closeWorker", ["close"]), /closed its Worker/);
    assert.equal(await s.run(3, "echo", ["next"]), "next");
    await assert.rejects(s.run(4, "closeWorker", ["exit"]), /closed its Worker/);
    assert.equal(await s.run(5, "echo", ["next"]), "next");
    assert.equal(restarts.length, 2);
  });
});

Deno.test("ServerProcess: a job that allocates without bound kills only its server", async () => {
  const exited = signal<ServerExit>();
  await withServer({ memoryMB: 64, onExit: exited.resolve }, async (s) => {
    const e = await s.run(1, "grow", []).catch((e: Error) => e) as Error;
    assert.ok(e instanceof ServerFailed, String(e));
    const exit = await exited.promise;
    assert.notEqual(exit.code, 0);
    assert.equal(s.closed, true);
    await assert.rejects(s.run(2, "echo", [1]), ServerFailed);
  });
  // The node side is fine: a new server runs jobs.
  await withServer({}, async (s) => assert.equal(await s.run(1, "echo", [1]), 1));
});

Deno.test("ServerProcess: permissions are declared ∩ allowed, none by default", async () => {
  const data = await Deno.makeTempDir({ prefix: "denocos-data-" });
  await Deno.writeTextFile(`${data}/x.txt`, "hello");
  try {
    // Not declared: denied, and the server runs the next job.
    await withServer({ allowed: { read: [data] } }, async (s) => {
      const e = await s.run(1, "readFile", [`${data}/x.txt`]).catch((e: Error) => e) as Error;
      assert.equal(e.name, "NotCapable");
      assert.equal(await s.run(2, "echo", ["still up"]), "still up");
    });
    // Declared but not allowed by the operator: denied.
    await withServer({ permissions: { read: [data], env: ["HOME"] } }, async (s) => {
      assert.equal(s.permissions.env, false);
      const e = await s.run(1, "readFile", [`${data}/x.txt`]).catch((e: Error) => e) as Error;
      assert.equal(e.name, "NotCapable");
      const env = await s.run(2, "getEnv", ["HOME"]).catch((e: Error) => e) as Error;
      assert.equal(env.name, "NotCapable");
    });
    // Declared and allowed: granted.
    await withServer(
      { permissions: { read: [data], env: ["HOME"] }, allowed: { read: [data], env: true } },
      async (s) => {
        assert.equal(await s.run(1, "readFile", [`${data}/x.txt`]), 5);
        assert.equal(await s.run(2, "getEnv", ["HOME"]), Deno.env.get("HOME"));
      },
    );
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("ServerProcess: a setup that fails fails the start", async () => {
  const dir = await codeDir();
  try {
    await assert.rejects(
      ServerProcess.start({
        codeDir: dir,
        entry: "jobs.ts",
        serverSetup: "fail",
        setupArgs: ["no"],
      }),
      (e) => e instanceof ServerFailed && /setup failed: no/.test(e.message),
    );
    await assert.rejects(
      ServerProcess.start({ codeDir: dir, entry: "missing.ts" }),
      ServerFailed,
    );
    await assert.rejects(
      ServerProcess.start({ codeDir: dir, entry: "/etc/passwd" }),
      TypeError,
    );
    // No grant may let a job write over its code (or the node's store).
    await assert.rejects(
      ServerProcess.start({
        codeDir: dir,
        entry: "jobs.ts",
        permissions: { write: true },
        allowed: { write: ["/tmp", dir] },
      }),
      /write permission reaches/,
    );
    await assert.rejects(
      ServerProcess.start({
        codeDir: dir,
        entry: "jobs.ts",
        permissions: { write: ["/srv/x"] },
        allowed: { write: true },
        protect: ["/srv"],
      }),
      /write permission reaches \/srv/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ServerProcess: a malformed frame from the server fails that server", async () => {
  const dir = await codeDir();
  try {
    await assert.rejects(
      ServerProcess.start({
        codeDir: dir,
        entry: "jobs.ts",
        script: new URL("./fixtures/fake_server_huge.ts", import.meta.url),
      }),
      (e) => e instanceof ServerFailed && /malformed frame/.test(e.message),
    );
    const exited = signal<ServerExit>();
    const s = await ServerProcess.start({
      codeDir: dir,
      entry: "jobs.ts",
      script: new URL("./fixtures/fake_server_garbage.ts", import.meta.url),
      onExit: exited.resolve,
    });
    assert.match((await exited.promise).reason, /undecodable frame/);
    await assert.rejects(s.run(1, "echo", [1]), ServerFailed);
    await s.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ServerProcess: 10,000 tiny jobs on one server (jobs/s)", async () => {
  await withServer({}, async (s) => {
    const N = 10_000;
    const rounds: number[] = [];
    let id = 0;
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      const ps: Promise<unknown>[] = new Array(N);
      for (let i = 0; i < N; i++) ps[i] = s.run(++id, "echo", [i]);
      const out = await Promise.all(ps);
      rounds.push(N / ((performance.now() - t0) / 1000));
      assert.equal(out[N - 1], N - 1);
    }
    rounds.sort((a, b) => a - b);
    console.log(
      `10,000 tiny jobs, one server, 5 rounds: median ${Math.round(rounds[2])} jobs/s, ` +
        `best ${Math.round(rounds[4])}, first-round-cold worst ${Math.round(rounds[0])}`,
    );
  });
});
