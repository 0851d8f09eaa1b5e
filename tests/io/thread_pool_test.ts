/**
 * `AsyncThreadPool` with real Workers: results, errors, crashes, hangs,
 * cancellation, permissions, modules, close.
 *
 * Jobs that must be running (or blocked) before the test goes on say so
 * through a `SharedArrayBuffer`: the test waits on it with
 * `Atomics.waitAsync`, never by sleeping.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  AsyncThreadPool,
  PoolClosed,
  Scheduler,
  TaskTerminated,
  type ThreadPoolOptions,
  TimeoutError,
  WorkerCrashed,
  WorkerJobError,
} from "../../mod.ts";
import { LIMIT } from "./_net_util.ts";
import { withScheduler } from "../core/_util.ts";
import { workerScript } from "../../src/io/_pool_internal.ts";
const MODULE = new URL("./fixtures/thread_pool_module.ts", import.meta.url);

/** Runs `fn` with a fresh pool that is closed afterwards, whatever happens. */
async function withPool(
  size: number,
  fn: (pool: AsyncThreadPool, scheduler: Scheduler) => Promise<void>,
  options: ConstructorParameters<typeof AsyncThreadPool>[1] = {},
): Promise<void> {
  const scheduler = new Scheduler();
  const pool = new AsyncThreadPool(size, { scheduler, ...options });
  try {
    await fn(pool, scheduler);
    assert.ok(await pool.join({ timeout: LIMIT }), "the pool did not become idle");
  } finally {
    await pool.close();
    await scheduler.finish();
  }
}

/** Shared flags: a job sets one, the test waits for it (and the other way round). */
function flags(): Int32Array<SharedArrayBuffer> {
  return new Int32Array(new SharedArrayBuffer(16));
}

/** Resolves once `f[i]` is no longer 0 (the job got there). */
async function waitFlag(f: Int32Array<SharedArrayBuffer>, i: number): Promise<void> {
  const r = Atomics.waitAsync(f, i, 0, LIMIT);
  const outcome = r.async ? await r.value : r.value;
  assert.notEqual(outcome, "timed-out", `flag ${i} was never set`);
}

/**
 * Runs `fn` with fresh flags for a `spin` job and always stops the spin
 * afterwards: its Worker thread would otherwise outlive a failing test.
 */
async function withSpin(fn: (f: Int32Array<SharedArrayBuffer>) => Promise<void>): Promise<void> {
  const f = flags();
  try {
    await fn(f);
  } finally {
    release(f, 3);
  }
}

/** Sets `f[i]` and wakes a job blocked on it. */
function release(f: Int32Array<SharedArrayBuffer>, i: number): void {
  Atomics.store(f, i, 1);
  Atomics.notify(f, i);
}

// Job functions: shipped by source text, so each one is self-contained.

/**
 * Says it started (flag 0), then spins until the test sets flag 3. Deno
 * 2.9 cannot stop a Worker that never returns to its event loop (its
 * thread goes on after `terminate()`), so each test ends the spin itself
 * (`withSpin`) once it has seen the pool give up on the job and replace the
 * Worker.
 */
const spin = (buf: SharedArrayBuffer): string => {
  const f = new Int32Array(buf);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
  while (Atomics.load(f, 3) === 0) Math.random();
  return "stopped";
};

/** Says it started (flag 0), then blocks until the test releases flag 1. */
const blocker = (buf: SharedArrayBuffer): string => {
  const f = new Int32Array(buf);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
  Atomics.wait(f, 1, 0, 10_000);
  return "released";
};

/** Counts its runs in flag 2. */
const countRun = (buf: SharedArrayBuffer): number => Atomics.add(new Int32Array(buf), 2, 1) + 1;

Deno.test("pool: run returns results; functions of every shape; many jobs", async () => {
  await withPool(2, async (pool) => {
    assert.equal(pool.size, 2);
    assert.equal(await pool.run((a: number, b: number) => a + b, 2, 3), 5);
    assert.equal(await pool.run((s: string) => Promise.resolve(s.toUpperCase()), "async"), "ASYNC");
    assert.equal(
      await pool.run(function named(xs: number[]) {
        return xs.reduce((a, b) => a + b, 0);
      }, [1, 2, 3]),
      6,
    );
    const holder = {
      method(x: number) {
        return x * 10;
      },
    };
    assert.equal(await pool.run(holder.method, 4), 40);
    assert.deepEqual(
      await pool.run(() => new Map([[1, { a: [1n] }]])),
      new Map([[1, { a: [1n] }]]),
    );
    const n = 20_000;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => pool.run((x: number) => x * 2, i)),
    );
    assert.equal(results.length, n);
    for (let i = 0; i < n; i++) assert.equal(results[i], i * 2);
  });
});

Deno.test("pool: errors come back typed, with the Worker's stack", async () => {
  await withPool(1, async (pool) => {
    const e1 = await pool.run(() => {
      throw new TypeError("bad type");
    }).catch((e) => e);
    assert.ok(e1 instanceof TypeError);
    assert.equal(e1.message, "bad type");
    assert.match(e1.stack ?? "", /bad type/);

    const e2 = await pool.run(() => {
      class Oops extends Error {
        code = "E_OOPS";
        constructor(m: string) {
          super(m);
          this.name = "Oops";
        }
      }
      throw new Oops("custom");
    }).catch((e) => e);
    assert.ok(e2 instanceof WorkerJobError);
    assert.equal(e2.remoteName, "Oops");
    assert.equal(e2.message, "custom");
    assert.equal(e2.code, "E_OOPS");

    await assert.rejects(pool.run(() => Promise.reject(new RangeError("async"))), RangeError);
    assert.equal(
      await pool.run(() => {
        throw "a string";
      }).catch((e) => e),
      "a string",
    );
    // A result that cannot be cloned.
    const e3 = await pool.run(() => () => 1).catch((e) => e);
    assert.ok(e3 instanceof WorkerJobError);
    assert.equal(e3.remoteName, "DataCloneError");
    // Arguments that cannot be cloned fail their job only.
    const good = pool.run((x: number) => x, 1);
    const bad = assert.rejects(
      pool.run((f: unknown) => f, () => 1),
      (e: Error) => e.name === "DataCloneError",
    );
    assert.equal(await good, 1);
    await bad;
    // Not shippable functions.
    await assert.rejects(pool.run(Math.max, 1, 2), TypeError);
    await assert.rejects(pool.run(((x: number) => x).bind(null), 1), TypeError);
    // A syntax error in the shipped source (a class is not a function to call).
    await assert.rejects(pool.run(class {} as unknown as () => void), TypeError);
    assert.equal(await pool.run(() => "still up"), "still up");
  });
});

Deno.test("pool: a Worker that crashes is replaced; its job fails with WorkerCrashed", async () => {
  await withPool(1, async (pool) => {
    // An uncaught error in the Worker's global scope while the job runs.
    const e1 = await pool.run(() => {
      setTimeout(() => {
        throw new Error("boom");
      });
      return new Promise(() => {});
    }).catch((e) => e);
    assert.ok(e1 instanceof WorkerCrashed, String(e1));
    assert.match(e1.message, /boom/);
    assert.equal(await pool.run(() => "after crash"), "after crash");

    // self.close() and Deno.exit() inside a job.
    const e2 = await pool.run(() => {
      (globalThis as unknown as { close(): void }).close();
      return 1;
    }).catch((e) => e);
    assert.ok(e2 instanceof WorkerCrashed, String(e2));
    assert.match(e2.message, /close/);
    const e3 = await pool.run(() => Deno.exit(3)).catch((e) => e);
    assert.ok(e3 instanceof WorkerCrashed, String(e3));
    assert.match(e3.message, /Deno\.exit/);

    // A crash after the job answered costs nothing but the Worker.
    assert.equal(
      await pool.run(() => {
        setTimeout(() => {
          throw new Error("late");
        });
        return "answered";
      }),
      "answered",
    );
    assert.equal(
      await pool.run(() => {
        Promise.reject(new Error("forgotten"));
        return "answered too";
      }),
      "answered too",
    );
    assert.equal(await pool.run(() => "after late crashes"), "after late crashes");
  });
});

Deno.test("pool: jobs queued behind a crashing job run on the new Worker", async () => {
  await withPool(1, async (pool) => {
    const f = flags();
    const crash = pool.run(() => {
      setTimeout(() => {
        throw new Error("boom");
      });
      return new Promise(() => {});
    });
    const after = Array.from({ length: 5 }, () => pool.run(countRun, f.buffer));
    await assert.rejects(crash, WorkerCrashed);
    assert.deepEqual((await Promise.all(after)).sort(), [1, 2, 3, 4, 5]);
    assert.equal(Atomics.load(f, 2), 5); // each ran exactly once
  });
});

Deno.test("pool: a running job cancelled by its signal: Worker replaced, queued jobs still run", async () => {
  await withPool(1, async (pool) => {
    await withSpin(async (f) => {
      const controller = new AbortController();
      const hung = pool.apply(spin, [f.buffer], { signal: controller.signal });
      const queued = [pool.run(countRun, f.buffer), pool.run(countRun, f.buffer)];
      await waitFlag(f, 0); // the spinning job runs
      controller.abort(new Error("cancelled"));
      await assert.rejects(hung, /cancelled/);
      assert.deepEqual((await Promise.all(queued)).sort(), [1, 2]);
      assert.equal(await pool.run(() => "next"), "next");
      assert.equal(Atomics.load(f, 2), 2);
    });
  });
});

Deno.test("pool: a job waiting forever is cancelled by its signal; its Worker is replaced", async () => {
  await withPool(1, async (pool) => {
    const f = flags();
    const controller = new AbortController();
    const forever = (buf: SharedArrayBuffer): Promise<never> => {
      const flag = new Int32Array(buf);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      return new Promise<never>(() => {});
    };
    const hung = pool.apply(forever, [f.buffer], { signal: controller.signal });
    const next = pool.run((x: number) => x * 2, 21); // queued behind it, same Worker
    await waitFlag(f, 0);
    controller.abort(new Error("given up"));
    await assert.rejects(hung, /given up/);
    assert.equal(await next, 42);
  });
});

Deno.test("pool: a timeout cancels a running job with TimeoutError", async () => {
  await withPool(1, async (pool) => {
    await withSpin(async (f) => {
      const hung = pool.apply(spin, [f.buffer], { timeout: 1 });
      await assert.rejects(hung, TimeoutError);
      assert.equal(await pool.run(() => "next"), "next");
    });
  });
});

Deno.test("pool: a task terminated while it waits on a job gets TaskTerminated; the job stops", async () => {
  await withPool(1, async (pool, scheduler) => {
    await withSpin(async (f) => {
      const t = scheduler.spawn(async () => await pool.run(spin, f.buffer));
      await waitFlag(f, 0);
      t.terminate();
      await assert.rejects(t.finish({ timeout: LIMIT }), TaskTerminated);
      // The spinning Worker was replaced, or this would never answer.
      const t2 = scheduler.spawn(async () => await pool.run((x: number) => x + 1, 41));
      assert.equal(await t2.finish({ timeout: LIMIT }), 42);
    });
  });
});

Deno.test("pool: a queued job cancelled before it starts never runs", async () => {
  await withPool(1, async (pool) => {
    const f = flags();
    const block = pool.run(blocker, f.buffer);
    const controller = new AbortController();
    const cancelled = pool.apply(countRun, [f.buffer], { signal: controller.signal });
    const kept = pool.run(countRun, f.buffer);
    await waitFlag(f, 0); // the blocker runs; the others wait behind it
    controller.abort(new Error("not wanted"));
    await assert.rejects(cancelled, /not wanted/);
    release(f, 1);
    assert.equal(await block, "released");
    assert.equal(await kept, 1);
    assert.equal(Atomics.load(f, 2), 1); // the cancelled job never ran
    // An already aborted signal and a zero timeout refuse at once.
    await assert.rejects(pool.apply(countRun, [f.buffer], { signal: AbortSignal.abort() }));
    await assert.rejects(pool.apply(countRun, [f.buffer], { timeout: 0 }), TimeoutError);
    await assert.rejects(pool.apply(countRun, [f.buffer], { timeout: -1 }), RangeError);
    assert.equal(Atomics.load(f, 2), 1);
  });
});

Deno.test("pool: an idle Worker takes the jobs another one has not started", async () => {
  await withPool(2, async (pool) => {
    const f = flags();
    const block = pool.run(blocker, f.buffer);
    const others = Array.from({ length: 8 }, (_, i) => pool.run((x: number) => x, i));
    // Some of these were sent to the blocked Worker; they finish anyway.
    assert.deepEqual(await Promise.all(others), [0, 1, 2, 3, 4, 5, 6, 7]);
    release(f, 1);
    assert.equal(await block, "released");
  });
});

Deno.test("pool: Workers have no permissions by default; a denied job leaves the pool up", async () => {
  await withPool(1, async (pool) => {
    await assert.rejects(
      pool.run(() => Deno.readTextFileSync("/etc/hostname")),
      Deno.errors.NotCapable,
    );
    await assert.rejects(pool.run(() => Deno.env.get("HOME")), Deno.errors.NotCapable);
    assert.equal(await pool.run(() => "still up"), "still up");
  });
});

Deno.test("pool: permissions are set per pool", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denocos_pool_test_" });
  try {
    const file = `${dir}/data.txt`;
    await Deno.writeTextFile(file, "visible");
    await withPool(1, async (pool) => {
      assert.equal(await pool.run((p: string) => Deno.readTextFileSync(p), file), "visible");
      await assert.rejects(
        pool.run((p: string) => Deno.writeTextFileSync(p, "no"), file),
        Deno.errors.NotCapable,
      );
    }, { permissions: { read: [dir] } });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pool: runModule calls a module's exports", async () => {
  await withPool(2, async (pool) => {
    assert.equal(await pool.runModule<number>(MODULE, "square", 7), 49);
    assert.equal(await pool.runModule<number>(MODULE.href, "slowAdd", 2, 3), 5);
    const squares = await Promise.all(
      Array.from({ length: 50 }, (_, i) => pool.runModule<number>(MODULE, "square", i)),
    );
    assert.equal(squares[49], 49 * 49);
    await assert.rejects(pool.runModule(MODULE, "fail", "no"), RangeError);
    await assert.rejects(pool.runModule(MODULE, "notAFunction"), TypeError);
    await assert.rejects(pool.runModule("./relative.ts", "x"), TypeError);
    await assert.rejects(
      pool.applyModule(MODULE, "square", [1], { signal: AbortSignal.abort() }),
    );
  }, { permissions: { read: [MODULE] } });
});

Deno.test("pool: runModule without read permission for the module is denied", async () => {
  await withPool(1, async (pool) => {
    await assert.rejects(pool.runModule(MODULE, "square", 2), Deno.errors.NotCapable);
    assert.equal(await pool.run(() => "still up"), "still up");
  });
});

Deno.test("pool: close rejects queued and running jobs with PoolClosed", async () => {
  // The scheduler's finish() closes the pool if the test fails before it does.
  await withScheduler(async (scheduler) => {
    const pool = new AsyncThreadPool(1, { scheduler });
    const f = flags();
    const running = pool.run(blocker, f.buffer);
    const queued = Array.from({ length: 3 }, () => pool.run(countRun, f.buffer));
    await waitFlag(f, 0);
    const checks = [running, ...queued].map((p) => assert.rejects(p, PoolClosed));
    await pool.close();
    await Promise.all(checks);
    release(f, 1); // the terminated blocker returns at once instead of after its timeout
    assert.ok(pool.closed);
    await assert.rejects(pool.run(() => 1), PoolClosed);
    assert.equal(await pool.join(), true);
    await pool.close(); // idempotent
  });
});

Deno.test("pool: join waits for every job; the scheduler's finish() closes the pool", async () => {
  await withScheduler(async (scheduler) => {
    const pool = new AsyncThreadPool(2, { scheduler });
    let done = 0;
    for (let i = 0; i < 100; i++) pool.run((x: number) => x, i).then(() => done++);
    assert.equal(await pool.join({ timeout: LIMIT }), true);
    await Promise.resolve();
    assert.equal(done, 100);
    assert.equal(pool.pending, 0);
    await scheduler.finish();
    assert.ok(pool.closed);
  });
});

Deno.test("pool: bad sizes and options are refused", () => {
  assert.throws(() => new AsyncThreadPool(0), RangeError);
  assert.throws(() => new AsyncThreadPool(1.5), RangeError);
  assert.throws(() => new AsyncThreadPool(1, { maxQueue: 0 }), RangeError);
});

Deno.test("pool: a full queue refuses more jobs", async () => {
  await withPool(1, async (pool) => {
    // Jobs wait in the queue until the next microtask hands them to a Worker.
    const a = pool.run((x: number) => x, 1);
    const b = pool.run((x: number) => x, 2);
    await assert.rejects(pool.run((x: number) => x, 3), RangeError);
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
  }, { maxQueue: 2 });
});

// --- Hostile jobs (issue 7): what a job posts is noise, the protocol is out of its reach ---

Deno.test("pool: junk a job posts on its Worker's postMessage is ignored; the pool stays up", async () => {
  await withPool(1, async (pool) => {
    const junk = () => {
      const post = (globalThis as unknown as { postMessage(m: unknown): void }).postMessage;
      for (
        const m of [
          null,
          undefined,
          0,
          -1,
          "x",
          [],
          [null],
          [-1],
          [-2, 1, 2],
          [1e9, 0, 1],
          {},
          [
            1,
            7,
          ],
          [1, 1, null],
          [-3, 0, { message: 1 }],
        ]
      ) post(m);
      return "posted";
    };
    assert.equal(await pool.run(junk), "posted");
    assert.equal(await pool.run((x: number) => x + 1, 1), 2);
    // The same Worker goes on: it remembers what an earlier job left behind.
    await pool.run(() => {
      (globalThis as Record<string, unknown>).mark = "same Worker";
    });
    assert.equal(await pool.run(junk), "posted");
    assert.equal(await pool.run(() => (globalThis as Record<string, unknown>).mark), "same Worker");
  });
});

Deno.test("pool: a job posting [seq, 0, value] cannot settle other jobs", async () => {
  await withPool(1, async (pool) => {
    const forger = () => {
      const post = (globalThis as unknown as { postMessage(m: unknown): void }).postMessage;
      for (let seq = 0; seq < 600; seq++) post([seq, 0, "forged"]);
      return "forger";
    };
    const within = { timeout: LIMIT };
    const jobs = [
      pool.apply(forger, [], within),
      ...Array.from({ length: 10 }, (_, i) => pool.apply((x: number) => x * 2, [i], within)),
    ];
    assert.deepEqual(await Promise.all(jobs), ["forger", 0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });
});

/**
 * Tries every trick we know to reach the pool's protocol port from job code
 * (prototype hooks on what the worker script might call, the message events,
 * Deno's internals) and posts forged answers on whatever it got hold of.
 * Returns how many things it could forge through.
 */
const grabber = (): string[] => {
  const g = globalThis as Record<string | symbol, unknown>;
  const got: string[] = [];
  const rApply = Reflect.apply;
  const forge = (how: string, target: unknown) => {
    const t = target as { postMessage?: (m: unknown) => void };
    if (t === null || typeof t !== "object" || typeof t.postMessage !== "function") return;
    if (t === (globalThis as unknown)) return; // the Worker's own postMessage: noise
    got.push(how);
    try {
      for (let seq = 0; seq < 600; seq++) t.postMessage([seq, 0, "forged"]);
    } catch { /* a closed port */ }
  };
  // Anything that looks like a protocol message: rewrite its sequence numbers.
  const tamper = (how: string, a: unknown) => {
    if (Array.isArray(a) && typeof a[0] === "number" && a.length >= 3) {
      got.push(how);
      try {
        a[0] = (a[0] as number) + 1;
        a[2] = "forged";
      } catch { /* frozen */ }
    }
  };
  const mp = MessagePort.prototype as unknown as Record<string, unknown>;
  const et = EventTarget.prototype as unknown as Record<string, unknown>;
  const origPost = mp.postMessage as (this: unknown, m: unknown) => void;
  mp.postMessage = function (this: unknown, m: unknown) {
    if (!got.includes("postMessage hook")) {
      tamper("postMessage arg", m);
      forge("postMessage hook", this);
    }
    return origPost.call(this, m);
  };
  for (const name of ["addEventListener", "removeEventListener", "dispatchEvent"]) {
    const orig = et[name] as (this: unknown, ...a: unknown[]) => unknown;
    const hook = function (this: unknown, ...a: unknown[]) {
      forge(`${name} hook`, this);
      return rApply(orig, this, a);
    };
    et[name] = hook;
    mp[name] = hook;
  }
  for (const name of ["start", "close"]) {
    const orig = mp[name] as (this: unknown) => unknown;
    mp[name] = function (this: unknown) {
      forge(`${name} hook`, this);
      return orig.call(this);
    };
  }
  // Event getters: the port is the event's target.
  const targetGet = Object.getOwnPropertyDescriptor(Event.prototype, "target")!.get!;
  for (
    const [proto, name] of [[Event.prototype, "type"], [Event.prototype, "eventPhase"], [
      MessageEvent.prototype,
      "data",
    ], [MessageEvent.prototype, "ports"]] as const
  ) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d?.get === undefined || !d.configurable) continue;
    const orig = d.get;
    Object.defineProperty(proto, name, {
      configurable: true,
      get(this: Event) {
        forge(`${name} getter`, targetGet.call(this));
        const v = orig.call(this);
        if (name === "data") tamper("event data", v);
        return v;
      },
    });
  }
  // Init dictionaries and options objects read through Object.prototype.
  for (
    const name of [
      "bubbles",
      "cancelable",
      "composed",
      "origin",
      "lastEventId",
      "source",
      "transfer",
    ]
  ) {
    Object.defineProperty(Object.prototype, name, {
      configurable: true,
      get(this: Record<string, unknown>) {
        tamper(`${name} getter`, this.data);
        forge(`${name} getter`, this.target);
        return undefined;
      },
    });
  }
  Object.defineProperty(Object.prototype, Symbol.iterator, {
    configurable: true,
    get(this: unknown) {
      tamper("Symbol.iterator getter", this);
      return undefined;
    },
  });
  // Array methods and index setters a protocol might use.
  const ap = Array.prototype as unknown as Record<string, unknown>;
  for (const name of ["push", "splice", "slice", "shift", "concat", "map", "forEach", "indexOf"]) {
    const orig = ap[name] as (this: unknown[], ...a: unknown[]) => unknown;
    ap[name] = function (this: unknown[], ...a: unknown[]) {
      tamper(`Array ${name}`, this);
      for (const x of a) forge(`Array ${name} argument`, x);
      return rApply(orig, this, a);
    };
  }
  for (let i = 0; i < 4; i++) {
    Object.defineProperty(Array.prototype, i, {
      configurable: true,
      set(this: unknown[], v: unknown) {
        tamper(`Array index ${i} setter`, this);
        forge(`Array index ${i} setter`, v);
        Object.defineProperty(this, i, {
          value: v,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      },
    });
  }
  // Deno's own uncloneable markers are found on a marked object.
  const wt = g.__wt as { markAsUncloneable?: (o: object) => void } | undefined;
  if (wt?.markAsUncloneable) {
    const o = {};
    wt.markAsUncloneable(o);
    for (const s of Object.getOwnPropertySymbols(o)) {
      Object.defineProperty(Array.prototype, s, {
        configurable: true,
        get(this: unknown) {
          tamper("uncloneable marker", this);
          return undefined;
        },
      });
    }
  }
  const realClone = structuredClone;
  g.structuredClone = (v: unknown, o?: StructuredSerializeOptions) => {
    tamper("structuredClone", v);
    return realClone(v, o);
  };
  // Whoever calls these after this job is the protocol (this job does not):
  // it would hand over its receiver and the next job's arguments.
  Reflect.apply = (f: unknown, t: unknown, a: unknown) => {
    if (!got.includes("Reflect.apply")) got.push("Reflect.apply");
    forge("Reflect.apply this", t);
    return rApply(f as () => unknown, t, a as unknown[]);
  };
  // deno-lint-ignore no-explicit-any
  (Function.prototype as any).apply = function (
    this: (...a: unknown[]) => unknown,
    t: unknown,
    a: unknown,
  ) {
    if (!got.includes("Function.prototype.apply")) got.push("Function.prototype.apply");
    forge("Function apply this", t);
    return rApply(this, t, (a ?? []) as unknown[]);
  };
  // A global message listener on the Worker itself.
  (globalThis as unknown as { onmessage: unknown }).onmessage = (e: MessageEvent) => {
    tamper("self.onmessage", e.data);
    for (const p of e.ports ?? []) forge("self.onmessage port", p);
  };
  addEventListener("message", (e) => {
    tamper("self message listener", (e as MessageEvent).data);
    for (const p of (e as MessageEvent).ports ?? []) forge("self listener port", p);
  });
  // Deno's internals: a MessagePort made from the resource id of ours.
  const internal = (Deno as unknown as Record<symbol, { core?: Record<string, unknown> }>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const core = internal?.core as
    | {
      resources(): Record<string, string>;
      getTransferableResource(t: string): { receive(rid: number): unknown };
    }
    | undefined;
  if (core !== undefined) {
    for (const [rid, kind] of Object.entries(core.resources())) {
      if (kind !== "messagePort") continue;
      try {
        forge(
          "Deno.internal core",
          core.getTransferableResource("MessagePort").receive(Number(rid)),
        );
      } catch { /* not ours to take */ }
    }
  }
  for (const k of Reflect.ownKeys(globalThis)) {
    try {
      forge(`global ${String(k)}`, g[k]);
    } catch { /* a throwing getter */ }
  }
  g.grabbed = got;
  return got;
};

Deno.test("pool: a job cannot reach the protocol port through hooks, events or Deno internals", async () => {
  await withPool(1, async (pool) => {
    // node:worker_threads for the uncloneable-marker trick.
    await pool.run(async () => {
      (globalThis as Record<string, unknown>).__wt = await import("node:worker_threads");
    });
    const within = { timeout: LIMIT };
    const jobs: Promise<unknown>[] = [pool.apply(grabber, [], within)];
    for (let i = 0; i < 20; i++) jobs.push(pool.apply((x: number) => x * 3, [i], within));
    const [grabbed, ...rest] = await Promise.all(jobs);
    assert.deepEqual(rest, Array.from({ length: 20 }, (_, i) => i * 3));
    // Later batches too, with the hooks still in place.
    const later = await Promise.all(
      Array.from({ length: 50 }, (_, i) => pool.apply((x: number) => -x, [i], within)),
    );
    assert.deepEqual(later, Array.from({ length: 50 }, (_, i) => -i));
    // Whatever the hooks saw, none of it was the protocol.
    const seen = await pool.apply(
      () => (globalThis as Record<string, unknown>).grabbed,
      [],
      within,
    );
    assert.deepEqual(
      seen,
      [],
      `the job reached: ${JSON.stringify(seen)} (first run: ${JSON.stringify(grabbed)})`,
    );
  });
});

Deno.test("pool: a Worker that breaks the protocol is replaced; its job fails, the next one runs", async () => {
  const script = new URL("./fixtures/pool_worker_subverted.js", import.meta.url);
  await withPool(1, async (pool) => {
    const within = { timeout: LIMIT };
    const junk: unknown[] = [
      null,
      undefined,
      "x",
      {},
      [],
      [1],
      [1, 0],
      [1, 0, 1, 2],
      new Array(5000),
      ["1", 0, 1],
      [1.5, 0, 1],
      [0, 0, 1],
      [999_999, 0, "forged"], // a job it was never sent
      [-1, 0, null], // a second READY
      [-9, 0, null],
      [-2, 5, null],
      [2, 7, "bad status"],
      [2, 1, { name: "E", message: 1, stack: "" }],
      [2, 1, { name: "x".repeat(300), message: "", stack: "" }],
      [2, 1, { name: "E", message: "", stack: "x".repeat(70_000) }],
      [2, 1, new Map()],
    ];
    for (const value of junk) {
      const err = await pool.apply(
        (v: unknown) => {
          (globalThis as Record<string, unknown>).__protocolJunk = { value: v };
          return "answered";
        },
        [value],
        within,
      ).catch((e) => e);
      assert.ok(err instanceof WorkerCrashed, `${Deno.inspect(value).slice(0, 60)}: ${err}`);
      assert.match(err.message, /protocol/);
      assert.equal(await pool.apply((x: number) => x + 1, [41], within), 42);
    }
    // Jobs sent behind the one whose Worker broke the protocol: the one it
    // may have started by then (it blocks, so there is at most one) fails
    // with it, the others run on the next Worker, once each.
    const f = flags();
    try {
      const culprit = pool.apply(
        () => {
          (globalThis as Record<string, unknown>).__protocolJunk = { value: null };
          return "answered";
        },
        [],
        within,
      );
      const first = pool.apply(blocker, [f.buffer], within).catch((e) => e);
      const behind = Array.from({ length: 4 }, () => pool.apply(countRun, [f.buffer], within));
      await assert.rejects(culprit, WorkerCrashed);
      release(f, 1);
      const r = await first;
      assert.ok(r === "released" || r instanceof WorkerCrashed, String(r));
      assert.deepEqual((await Promise.all(behind)).sort(), [1, 2, 3, 4]);
      assert.equal(Atomics.load(f, 2), 4);
    } finally {
      release(f, 1);
    }
  }, { [workerScript]: script } as ThreadPoolOptions);
});

Deno.test("pool: a job that imports the channel module cannot claim the channel again", async () => {
  const channel = new URL("../../src/io/_worker_channel_worker.js", import.meta.url);
  await withPool(1, async (pool) => {
    const err = await pool.run(async (url: string) => {
      const m = await import(url);
      try {
        m.claimChannel({ open() {}, message() {} });
        return "claimed";
      } catch (e) {
        return (e as Error).message;
      }
    }, channel.href);
    assert.match(err, /already claimed/);
    assert.equal(await pool.run((x: number) => x * 2, 21), 42);
  }, { permissions: { read: [new URL("../../src/io/", import.meta.url)] } });
});

Deno.test("pool: workerPerJob runs each job in a fresh Worker", async () => {
  await withPool(2, async (pool) => {
    const within = { timeout: LIMIT };
    const poison = () => {
      const g = globalThis as Record<string, unknown>;
      const seen = g.left;
      g.left = "poison";
      Math.max = () => -1;
      return seen ?? "clean";
    };
    const runs = await Promise.all(Array.from({ length: 6 }, () => pool.apply(poison, [], within)));
    assert.deepEqual(runs, Array(6).fill("clean"));
    assert.equal(await pool.apply((a: number, b: number) => Math.max(a, b), [3, 4], within), 4);
    // A job taken back before it started does not leave its Worker unused forever.
    const f = flags();
    const block = pool.apply(blocker, [f.buffer], within);
    const block2 = pool.apply(blocker, [f.buffer], within);
    const c = new AbortController();
    const cancelled = pool.apply(countRun, [f.buffer], { signal: c.signal });
    await waitFlag(f, 0);
    c.abort(new Error("no"));
    await assert.rejects(cancelled, /no/);
    release(f, 1);
    assert.deepEqual(await Promise.all([block, block2]), ["released", "released"]);
    assert.equal(await pool.apply((x: number) => x + 1, [1], within), 2);
    assert.equal(Atomics.load(f, 2), 0);
  }, { workerPerJob: true });
});
