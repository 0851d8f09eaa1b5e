import assert from "node:assert/strict";
import {
  intersectPermissions,
  permissionFlags,
  withRead,
  writeReaches,
} from "../../src/compute/_permissions.ts";

const NONE = {
  read: false,
  write: false,
  net: false,
  env: false,
  run: false,
  sys: false,
  ffi: false,
  import: false,
};

Deno.test("intersectPermissions: none by default, whatever is declared", () => {
  assert.deepEqual(intersectPermissions(undefined, undefined), NONE);
  assert.deepEqual(intersectPermissions({ read: true, net: true, env: true }, undefined), NONE);
  assert.deepEqual(intersectPermissions({ read: true }, "none"), NONE);
  assert.deepEqual(intersectPermissions(undefined, { read: true, net: true }), NONE);
});

Deno.test("intersectPermissions: booleans and lists", () => {
  const o = { cwd: "/" };
  assert.deepEqual(intersectPermissions({ net: true }, { net: true }, o), { ...NONE, net: true });
  assert.deepEqual(
    intersectPermissions({ net: true }, { net: ["127.0.0.1:80"] }, o).net,
    ["127.0.0.1:80"],
  );
  assert.deepEqual(
    intersectPermissions({ env: ["HOME", "PATH"] }, { env: true }, o).env,
    ["HOME", "PATH"],
  );
  assert.equal(intersectPermissions({ env: ["HOME"] }, { env: ["PATH"] }, o).env, false);
  assert.equal(intersectPermissions({ run: false }, { run: true }, o).run, false);
});

Deno.test("intersectPermissions: paths keep the narrower side, relative to cwd", () => {
  const o = { cwd: "/work" };
  assert.deepEqual(intersectPermissions({ read: ["/data/in"] }, { read: ["/data"] }, o).read, [
    "/data/in",
  ]);
  assert.deepEqual(intersectPermissions({ read: ["/"] }, { read: ["/data"] }, o).read, ["/data"]);
  assert.deepEqual(intersectPermissions({ write: ["./out"] }, { write: ["/work"] }, o).write, [
    "/work/out",
  ]);
  // A sibling with a common prefix is not inside.
  assert.equal(intersectPermissions({ read: ["/database"] }, { read: ["/data"] }, o).read, false);
  // `..` cannot climb out of an allowed folder.
  assert.equal(
    intersectPermissions({ read: ["/data/../etc"] }, { read: ["/data"] }, o).read,
    false,
  );
  assert.deepEqual(
    intersectPermissions({ ffi: ["/lib/x.so", "/opt/y.so"] }, { ffi: ["/lib"] }, o).ffi,
    ["/lib/x.so"],
  );
});

Deno.test("intersectPermissions: hosts, ports, env prefixes, exact names", () => {
  const o = { cwd: "/" };
  assert.deepEqual(
    intersectPermissions({ net: ["example.com:443", "other:1"] }, { net: ["example.com"] }, o).net,
    ["example.com:443"],
  );
  assert.deepEqual(
    intersectPermissions({ net: ["localhost"] }, { net: ["localhost:8080"] }, o).net,
    ["localhost:8080"],
  );
  assert.equal(
    intersectPermissions({ net: ["localhost:80"] }, { net: ["localhost:8080"] }, o).net,
    false,
  );
  assert.deepEqual(
    intersectPermissions({ net: ["[::1]:80"] }, { net: ["[::1]"] }, o).net,
    ["[::1]:80"],
  );
  assert.deepEqual(
    intersectPermissions({ import: ["jsr.io"] }, { import: ["jsr.io:443"] }, o).import,
    ["jsr.io:443"],
  );
  assert.deepEqual(
    intersectPermissions({ env: ["AWS_REGION", "HOME"] }, { env: ["AWS_*"] }, o).env,
    ["AWS_REGION"],
  );
  assert.deepEqual(
    intersectPermissions({ sys: ["hostname", "osRelease"] }, {
      sys: ["hostname"],
    }, o).sys,
    ["hostname"],
  );
  assert.deepEqual(intersectPermissions({ run: ["git", "sh"] }, { run: ["git"] }, o).run, ["git"]);
});

Deno.test("intersectPermissions: hostile shapes are TypeErrors", () => {
  const bad: unknown[] = [
    "inherit",
    { read: "inherit" },
    { read: "/etc" },
    { read: [1] },
    { read: [""] },
    { read: ["a\0b"] },
    { hrtime: true },
    { read: new Array(257).fill("/x") },
    [],
    null,
  ];
  for (const b of bad) {
    assert.throws(
      () => intersectPermissions(b as never, { read: true }),
      TypeError,
      JSON.stringify(b)?.slice(0, 40),
    );
  }
});

Deno.test("permissionFlags and withRead", () => {
  const p = { ...NONE, net: ["127.0.0.1:80", "localhost"], env: true };
  assert.deepEqual(permissionFlags(p, ["/code"]), [
    "--allow-read=/code",
    "--allow-net=127.0.0.1:80,localhost",
    "--allow-env",
  ]);
  assert.deepEqual(permissionFlags(NONE), []);
  assert.throws(() => permissionFlags({ ...NONE, read: ["/a,b"] }), TypeError);
  assert.deepEqual(withRead({ ...NONE, read: ["/d"] }, ["/code"]).read, ["/code", "/d"]);
  assert.equal(withRead({ ...NONE, read: true }, ["/code"]).read, true);
});

Deno.test("writeReaches: a write grant over, under or at a folder reaches it", () => {
  assert.equal(writeReaches(NONE, "/code"), false);
  assert.equal(writeReaches({ ...NONE, write: true }, "/code"), true);
  assert.equal(writeReaches({ ...NONE, write: ["/"] }, "/code"), true);
  assert.equal(writeReaches({ ...NONE, write: ["/code/sub"] }, "/code"), true);
  assert.equal(writeReaches({ ...NONE, write: ["/codes", "/tmp"] }, "/code"), false);
});
