import assert from "node:assert/strict";
import {
  BundleError,
  isSha256,
  pathProblem,
  sha256Hex,
  validateManifest,
} from "../../src/compute/_bundle_manifest.ts";

const H = "a".repeat(64);

Deno.test("manifest: safe paths", () => {
  for (
    const ok of ["a.ts", "dir/sub/a.ts", "é/ü.ts", "x".repeat(255), "a b/c-d_e.f.ts", ".hidden/x"]
  ) {
    assert.equal(pathProblem(ok), null, ok);
  }
  const bad: [unknown, RegExp][] = [
    [1, /string/],
    ["", /empty/],
    ["/a", /absolute/],
    ["a/", /empty segment/],
    ["a//b", /empty segment/],
    [".", /'\.'/],
    ["a/./b", /'\.'/],
    ["..", /'\.\.'/],
    ["a/../b", /'\.\.'/],
    ["a\u0000b", /control/],
    ["a\nb", /control/],
    ["a\\b", /'\\'/],
    ["c:/x", /':'/],
    ["x".repeat(256), /255/],
    ["é".repeat(128), /255/], // 256 UTF-8 bytes
    [("d".repeat(200) + "/").repeat(21), /4096/],
  ];
  for (const [p, why] of bad) assert.match(pathProblem(p) ?? "", why, String(p));
});

Deno.test("manifest: sha256 format and hashing", async () => {
  assert.ok(isSha256(H));
  assert.ok(!isSha256("A".repeat(64)));
  assert.ok(!isSha256(H + "a"));
  assert.ok(!isSha256(null));
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("manifest: a valid manifest comes back clean", () => {
  const m = validateManifest({
    entry: "main.ts",
    extra: "dropped",
    files: [{ path: "main.ts", sha256: H, size: 3, extra: 1 }, {
      path: "lib/x.ts",
      sha256: H,
      size: 0,
    }],
  });
  assert.deepEqual(m, {
    entry: "main.ts",
    files: [{ path: "main.ts", sha256: H, size: 3 }, { path: "lib/x.ts", sha256: H, size: 0 }],
  });
});

Deno.test("manifest: hostile manifests are refused with a reason", () => {
  const file = (over: object = {}) => ({ path: "a.ts", sha256: H, size: 1, ...over });
  const cases: [unknown, string][] = [
    [null, "malformed"],
    ["x", "malformed"],
    [{ entry: "a.ts" }, "malformed"],
    [{ entry: "a.ts", files: [] }, "malformed"],
    [{ entry: "a.ts", files: [null] }, "malformed"],
    [{ entry: "a.ts", files: [file({ sha256: "x" })] }, "malformed"],
    [{ entry: "a.ts", files: [file({ size: -1 })] }, "malformed"],
    [{ entry: "a.ts", files: [file({ size: 1.5 })] }, "malformed"],
    [{ entry: "a.ts", files: [file({ size: "1" })] }, "malformed"],
    [{ entry: "a.ts", files: [file(), file()] }, "malformed"],
    [{ entry: "b.ts", files: [file()] }, "malformed"],
    [{ entry: 1, files: [file()] }, "malformed"],
    [{ entry: "a.ts", files: [file(), file({ path: "a.ts/b" })] }, "malformed"],
    [{ entry: "a.ts", files: [file({ path: "../a.ts" })] }, "path"],
    [{ entry: "a.ts", files: [file({ size: 17 * 2 ** 20 })] }, "limit"],
    [
      { entry: "a.ts", files: Array.from({ length: 1001 }, (_, i) => file({ path: `f${i}` })) },
      "limit",
    ],
    [
      {
        entry: "f0",
        files: Array.from({ length: 5 }, (_, i) => file({ path: `f${i}`, size: 16 * 2 ** 20 })),
      },
      "limit",
    ],
  ];
  for (const [m, reason] of cases) {
    assert.throws(() => validateManifest(m), (e) => {
      assert.ok(e instanceof BundleError);
      assert.equal(e.reason, reason, `${e.message} for ${JSON.stringify(m).slice(0, 100)}`);
      return true;
    });
  }
  // Custom limits.
  assert.throws(
    () => validateManifest({ entry: "a.ts", files: [file({ size: 11 })] }, { maxFileSize: 10 }),
    BundleError,
  );
  assert.throws(
    () =>
      validateManifest({ entry: "a.ts", files: [file(), file({ path: "b" })] }, { maxFiles: 1 }),
    BundleError,
  );
});
