import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { BundleError, type BundleManifest } from "../../src/compute/_bundle_manifest.ts";
import { CodeBundle } from "../../src/compute/_code_bundle.ts";
import { CodeCache } from "../../src/compute/_code_cache.ts";
import { sha, withTree } from "./_tree.ts";

const LIMIT = 10_000;
const enc = new TextEncoder();

async function withCache(fn: (cache: CodeCache, tmp: string) => Promise<void>, link = true) {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "denocos_cache_" }));
  try {
    await fn(await CodeCache.open(nodePath.join(tmp, "store"), { link }), tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, reason: string) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof BundleError, String(e));
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

async function manifestOf(files: Record<string, string>, entry: string): Promise<BundleManifest> {
  return {
    entry,
    files: await Promise.all(
      Object.entries(files).map(async ([path, text]) => ({
        path,
        sha256: await sha(text),
        size: enc.encode(text).length,
      })),
    ),
  };
}

Deno.test("cache: put verifies the hash, stores read-only, leaves no temp file", async () => {
  await withCache(async (cache) => {
    const bytes = enc.encode("export const x = 1;");
    const h = await sha(bytes);
    assert.equal(await cache.has(h), false);
    await rejectsWith(cache.put(h, enc.encode("export const x = 2;")), "hash");
    assert.equal(await cache.has(h), false);
    await cache.put(h, bytes);
    assert.equal(await cache.has(h), true);
    await cache.put(h, bytes); // again: a no-op
    const info = await Deno.stat(nodePath.join(cache.dir, "objects", h));
    assert.equal(info.mode! & 0o777, 0o444);
    assert.deepEqual(await Deno.readFile(nodePath.join(cache.dir, "objects", h)), bytes);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(nodePath.join(cache.dir, "tmp"))), []);
  });
});

Deno.test("cache: malformed hashes and oversized content are refused", async () => {
  await withCache(async (cache) => {
    for (const bad of ["", "abc", "A".repeat(64), "../".repeat(21) + "x", "g".repeat(64)]) {
      assert.equal(await cache.has(bad), false);
      await rejectsWith(cache.put(bad, new Uint8Array()), "malformed");
    }
  });
  const tmp = await Deno.makeTempDir();
  try {
    const small = await CodeCache.open(tmp, { maxFileSize: 4 });
    const five = enc.encode("12345");
    await rejectsWith(small.put(await sha(five), five), "limit");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("cache: concurrent puts of the same content both succeed", async () => {
  await withCache(async (cache) => {
    const bytes = enc.encode("x".repeat(100_000));
    const h = await sha(bytes);
    await Promise.all(Array.from({ length: 8 }, () => cache.put(h, bytes)));
    assert.equal(await cache.has(h), true);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(nodePath.join(cache.dir, "tmp"))), []);
  });
});

Deno.test("cache: missing lists each absent hash once, so no file is sent twice", async () => {
  await withCache(async (cache) => {
    const m = await manifestOf(
      { "a.ts": "same", "b.ts": "same", "c.ts": "other", "d.ts": "third" },
      "a.ts",
    );
    assert.deepEqual(await cache.missing(m), [
      await sha("same"),
      await sha("other"),
      await sha("third"),
    ]);
    await cache.put(await sha("other"), enc.encode("other"));
    assert.deepEqual(await cache.missing(m), [await sha("same"), await sha("third")]);
    await cache.put(await sha("same"), enc.encode("same"));
    await cache.put(await sha("third"), enc.encode("third"));
    assert.deepEqual(await cache.missing(m), []);
    await rejectsWith(cache.missing({ entry: "x", files: [] }), "malformed");
  });
});

Deno.test("cache: materialize refuses a bundle with files not stored yet, and an existing folder", async () => {
  await withCache(async (cache, tmp) => {
    const m = await manifestOf({ "main.ts": "export const run = () => 1;" }, "main.ts");
    await assert.rejects(cache.materialize(m, nodePath.join(tmp, "c1")), (e) => {
      assert.ok(e instanceof BundleError && e.reason === "missing");
      assert.deepEqual(e.details, [m.files[0].sha256]);
      return true;
    });
    await assert.rejects(Deno.stat(nodePath.join(tmp, "c1")), Deno.errors.NotFound);
    await cache.put(m.files[0].sha256, enc.encode("export const run = () => 1;"));
    await Deno.mkdir(nodePath.join(tmp, "c2"));
    await assert.rejects(cache.materialize(m, nodePath.join(tmp, "c2")), Deno.errors.AlreadyExists);
  });
});

Deno.test("cache: unsafe manifests are refused before anything is written", async () => {
  await withCache(async (cache, tmp) => {
    const h = await sha("x");
    await cache.put(h, enc.encode("x"));
    const bad = [
      "../escape.ts",
      "a/../../escape.ts",
      "/etc/passwd",
      "a//b.ts",
      "./a.ts",
      "a\u0000b.ts",
      "a\\b.ts",
      "C:/x.ts",
      "x".repeat(256) + ".ts",
      "",
    ];
    for (const path of bad) {
      const target = nodePath.join(tmp, "out");
      await rejectsWith(
        cache.materialize({ entry: path, files: [{ path, sha256: h, size: 1 }] }, target),
        "path",
      );
      await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
    }
    // A path that is both a file and a folder, a lying size.
    await rejectsWith(
      cache.materialize({
        entry: "a",
        files: [{ path: "a", sha256: h, size: 1 }, { path: "a/b", sha256: h, size: 1 }],
      }, nodePath.join(tmp, "o2")),
      "malformed",
    );
    await rejectsWith(
      cache.materialize(
        { entry: "a", files: [{ path: "a", sha256: h, size: 2 }] },
        nodePath.join(tmp, "o3"),
      ),
      "hash",
    );
    await assert.rejects(Deno.stat(nodePath.join(tmp, "o3")), Deno.errors.NotFound);
  });
});

for (const link of [true, false]) {
  Deno.test(`cache: a shipped bundle runs in a Worker that may read only its folder (${link ? "hard links" : "copies"})`, async () => {
    await withTree({
      "job/main.ts": [
        `import { twice } from "./lib/twice.ts";`,
        `import { same } from "../shared/same.ts";`,
        `import type { Unused } from "./types.ts";`,
        `export async function run(): Promise<number> {`,
        `  const { ten } = await import("./lazy.ts");`,
        `  const u: Unused = 0;`,
        `  return twice(ten) + same + u;`,
        `}`,
      ].join("\n"),
      "job/lib/twice.ts": `export const twice = (n: number): number => 2 * n;`,
      "job/lazy.ts": `export const ten = 10;`,
      "job/types.ts": `export type Unused = number;`,
      "shared/same.ts": `export const same = 1;`,
      "shared/copy.ts": `export const same = 1;`,
    }, async (src) => {
      await withCache(async (cache, tmp) => {
        const bundle = await CodeBundle.create(`${src}/job/main.ts`);
        // The client sends what the node lacks, the node stores it.
        const lacking = await cache.missing(bundle.manifest);
        assert.equal(lacking.length, 4);
        for (const h of lacking) await cache.put(h, new Uint8Array(await bundle.readSha(h)));
        assert.deepEqual(await cache.missing(bundle.manifest), []);
        const out = await cache.materialize(bundle.manifest, nodePath.join(tmp, "comp-1"));
        assert.equal(out.entry.href, new URL(`file://${tmp}/comp-1/job/main.ts`).href);
        for (const f of bundle.manifest.files) {
          assert.deepEqual(
            await Deno.readFile(nodePath.join(out.dir, f.path)),
            await bundle.read(f.path),
          );
          const placed = await Deno.stat(nodePath.join(out.dir, f.path));
          const stored = await Deno.stat(nodePath.join(cache.dir, "objects", f.sha256));
          assert.equal(placed.ino === stored.ino, link);
          assert.equal(placed.mode! & 0o222, 0);
        }
        // A second computation with the same code needs nothing sent.
        const again = await CodeBundle.create(`${src}/job/main.ts`);
        assert.deepEqual(await cache.missing(again.manifest), []);

        const worker = new Worker(new URL("./fixtures/import_worker.ts", import.meta.url), {
          type: "module",
          deno: {
            permissions: { read: [out.dir], write: false, net: false, env: false, run: false },
          },
        });
        try {
          const reply = new Promise<
            { ok: boolean; result?: number; probed?: string; error?: string }
          >(
            (resolve, reject) => {
              const timer = setTimeout(() => reject(new Error("no reply from the Worker")), LIMIT);
              worker.onmessage = (e) => {
                clearTimeout(timer);
                resolve(e.data);
              };
              worker.onerror = (e) => {
                clearTimeout(timer);
                e.preventDefault();
                reject(new Error(e.message));
              };
            },
          );
          worker.postMessage({
            entry: out.entry.href,
            probe: nodePath.join(cache.dir, "objects", lacking[0]),
          });
          const r = await reply;
          assert.ok(r.ok, r.error);
          assert.equal(r.result, 21);
          assert.equal(r.probed, "NotCapable");
        } finally {
          worker.terminate();
        }
      }, link);
    });
  });
}
