import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { pathToFileURL } from "node:url";
import { BundleError } from "../../src/compute/_bundle_manifest.ts";
import { CodeBundle } from "../../src/compute/_code_bundle.ts";
import { sha, withTree } from "./_tree.ts";

const paths = (b: CodeBundle) => b.manifest.files.map((f) => f.path);

async function rejectsWith(p: Promise<unknown>, reason: string, ...mentions: string[]) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof BundleError, String(e));
    assert.equal(e.reason, reason, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `${m} not in: ${e.message}`);
    return true;
  });
}

Deno.test("bundle: static, re-export, star, dynamic, JSON and cyclic imports travel; type-only ones do not", async () => {
  await withTree({
    "job/main.ts": [
      `import type { T } from "./types.ts";`,
      `import { a } from "./a.ts";`,
      `export { b } from "./b.ts";`,
      `export * from "./star.ts";`,
      `export type { Q } from "./q_types.ts";`,
      `import data from "./data.json" with { type: "json" };`,
      `import { lib } from "../lib/lib.ts";`,
      `let t: typeof import("./typed.ts");`,
      `export async function run(x: T): Promise<number> {`,
      `  const d = await import("./dyn.ts");`,
      `  const v = await import("./versioned.ts?v=2");`,
      `  const name = "x";`,
      `  await import("./plugins/" + name + ".ts");`,
      `  return a + d.d + data.n + lib + v.v;`,
      `}`,
    ].join("\n"),
    "job/types.ts": `export type T = number;`,
    "job/q_types.ts": `export type Q = string;`,
    "job/typed.ts": `export const typed = 1;`,
    "job/a.ts": `import { run } from "./main.ts";\nexport const a = 1; export { run };`,
    "job/b.ts": `export const b = 2;`,
    "job/star.ts": `export const s = 3;`,
    "job/data.json": `{ "n": 4, "note": "import('./not_a_module.ts')" }`,
    "job/dyn.ts": `export const d = 5;`,
    "job/versioned.ts": `export const v = 6;`,
    "lib/lib.ts": `import "./lib_side.ts";\nexport const lib = 7;`,
    "lib/lib_side.ts": `export {};`,
  }, async (dir) => {
    const b = await CodeBundle.create(pathToFileURL(`${dir}/job/main.ts`));
    assert.equal(b.root, dir);
    assert.equal(b.manifest.entry, "job/main.ts");
    assert.deepEqual(paths(b), [
      "job/a.ts",
      "job/b.ts",
      "job/data.json",
      "job/dyn.ts",
      "job/main.ts",
      "job/star.ts",
      "job/versioned.ts",
      "lib/lib.ts",
      "lib/lib_side.ts",
    ]);
    for (const f of b.manifest.files) {
      const bytes = await Deno.readFile(nodePath.join(dir, f.path));
      assert.equal(f.size, bytes.length);
      assert.equal(f.sha256, await sha(bytes));
      assert.deepEqual(await b.read(f.path), bytes);
      assert.deepEqual(await b.readSha(f.sha256), bytes);
    }
    assert.deepEqual(b.unresolved, [{
      importer: "job/main.ts",
      expression: `"./plugins/" + name + ".ts"`,
    }]);
  });
});

Deno.test("bundle: paths are relative to the entry's folder when nothing goes up", async () => {
  await withTree({
    "deep/er/job.js": `import "./sub/x.js";`,
    "deep/er/sub/x.js": `export default 1;`,
  }, async (dir) => {
    const b = await CodeBundle.create(`${dir}/deep/er/job.js`);
    assert.equal(b.root, `${dir}/deep/er`);
    assert.equal(b.manifest.entry, "job.js");
    assert.deepEqual(paths(b), ["job.js", "sub/x.js"]);
  });
});

/** TypeScript that erasable-syntax lexers must get through, with an import after each construct. */
const TS_TORTURE = [
  `import { dec } from "./dec.ts";`,
  `enum Color { Red = 1, Slash = "/", Blue }`,
  `import "./after_enum.ts";`,
  `const enum E { A = 1 << 2 }`,
  `namespace N { export const z: number = 1 / 2; }`,
  `import "./after_namespace.ts";`,
  `@dec({ path: "/a/" })`,
  `class K<T extends object = {}> {`,
  `  @dec() private readonly m: Map<string, Array<number>> = new Map();`,
  `  constructor(private y: number, public z?: string) {}`,
  `  g<U,>(a: U): U { return a as unknown as U; }`,
  `}`,
  `import "./after_decorators.ts";`,
  `function f<T>(a: T[]): T { return a[0]!; }`,
  `const g = <T,>(x: T) => x;`,
  `const r = f<number>([1]) / 2 / 3;`,
  `const s = { a: 1 } satisfies Record<string, number>;`,
  `abstract class Ab { abstract go(): void; }`,
  `function over(a: string): void;`,
  `function over(a: unknown) {}`,
  `declare module "ambient" { export const q: number; }`,
  `declare const ambient: import("./ambient_type.ts").T;`,
  `type X = import("./type_alias.ts").Y;`,
  `interface I { load(): import("./interface_type.ts").Y }`,
  `const str = "import('./in_string.ts')"; // import("./in_comment.ts")`,
  `/* import x from "./in_block_comment.ts" */`,
  `const tpl = \`\${"import('./in_template.ts')"}\`;`,
  `export const last = await import("./after_everything.ts");`,
].join("\n");

Deno.test("bundle: TypeScript syntax (enums, decorators, generics, namespaces, declare) lexes, and agrees with deno info", async () => {
  const deps = ["dec", "after_enum", "after_namespace", "after_decorators", "after_everything"];
  const files: Record<string, string> = { "main.ts": TS_TORTURE };
  for (const d of deps) {
    files[`${d}.ts`] = `export const dec = (..._: unknown[]) => (..._2: unknown[]) => {};`;
  }
  for (const t of ["ambient_type", "type_alias", "interface_type"]) {
    files[`${t}.ts`] = `export type T = 1; export type Y = 2;`;
  }
  await withTree(files, async (dir) => {
    const b = await CodeBundle.create(`${dir}/main.ts`, { deno: false });
    const expected = ["main.ts", ...deps.map((d) => `${d}.ts`)].sort();
    assert.deepEqual(paths(b), expected);
    // Deno's own parser (swc) as the oracle: the same run-time edges out of main.ts.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "info",
        "--json",
        "--no-remote",
        "--no-npm",
        "--no-lock",
        "--no-config",
        `${dir}/main.ts`,
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const graph = JSON.parse(new TextDecoder().decode(out.stdout));
    const main = graph.modules.find((m: { specifier: string }) => m.specifier === graph.roots[0]);
    const runtime = main.dependencies
      .filter((d: { code?: unknown }) => d.code !== undefined)
      .map((d: { specifier: string }) => d.specifier.replace("./", ""))
      .sort();
    assert.deepEqual(runtime, deps.map((d) => `${d}.ts`).sort());
  });
});

Deno.test("bundle: JSX the lexer cannot read falls back to deno info, or fails with 'parse' without it", async () => {
  await withTree({
    "app.tsx":
      `import { h } from "./h.ts";\nconst el = <div className="x">/not/a/regex {1 < 2}</div>;\nexport const lazy = () => import("./lazy.tsx");\nexport default el;`,
    "h.ts": `export const h = 1;`,
    "lazy.tsx": `export default <span>hi</span>;`,
  }, async (dir) => {
    const b = await CodeBundle.create(`${dir}/app.tsx`);
    assert.deepEqual(paths(b), ["app.tsx", "h.ts", "lazy.tsx"]);
    await rejectsWith(CodeBundle.create(`${dir}/app.tsx`, { deno: false }), "parse", "app.tsx");
  });
});

Deno.test("bundle: bare and remote imports fail the bundle, all of them listed; type-only, node:, data: and external ones do not", async () => {
  await withTree({
    "main.ts": [
      `import type { Task } from "@denocos/denocos";`,
      `import type { Z } from "npm:zod@3";`,
      `import { spawn } from "jsr:@denocos/denocos";`,
      `import chalk from "npm:chalk@5";`,
      `import { x } from "https://example.com/x.ts";`,
      `import fs from "node:fs";`,
      `import inline from "data:text/javascript,export default 1";`,
      `import "./more.ts";`,
    ].join("\n"),
    "more.ts": `export const lazy = () => import("lodash");`,
  }, async (dir) => {
    await rejectsWith(
      CodeBundle.create(`${dir}/main.ts`),
      "external",
      `"jsr:@denocos/denocos"`,
      `"npm:chalk@5"`,
      `"https://example.com/x.ts"`,
      `"lodash" in ${dir}/more.ts`,
    );
    const e = await CodeBundle.create(`${dir}/main.ts`).catch((e) => e as BundleError);
    assert.equal((e as BundleError).details.length, 4, "node: and data: need no shipping");
    const provided = new Set([
      "jsr:@denocos/denocos",
      "npm:chalk@5",
      "https://example.com/x.ts",
      "lodash",
    ]);
    const b = await CodeBundle.create(`${dir}/main.ts`, { external: (s) => provided.has(s) });
    assert.deepEqual(paths(b), ["main.ts", "more.ts"]);
  });
});

Deno.test("bundle: absolute specifiers cannot be relocated", async () => {
  await withTree({ "main.ts": `import "/etc/x.ts";\nimport "file:///tmp/y.ts";` }, async (dir) => {
    await rejectsWith(
      CodeBundle.create(`${dir}/main.ts`),
      "absolute",
      `"/etc/x.ts"`,
      `"file:///tmp/y.ts"`,
    );
  });
  await rejectsWith(CodeBundle.create(new URL("https://example.com/job.ts")), "absolute");
  await rejectsWith(CodeBundle.create("npm:foo"), "absolute");
});

Deno.test("bundle: missing files and folders are listed with their importer", async () => {
  await withTree(
    { "main.ts": `import "./gone.ts";\nimport "./folder";`, "folder/x.ts": "" },
    async (dir) => {
      await rejectsWith(
        CodeBundle.create(`${dir}/main.ts`),
        "missing",
        `${dir}/gone.ts (imported by ${dir}/main.ts)`,
        `${dir}/folder is not a regular file`,
      );
    },
  );
  await withTree({}, async (dir) => {
    await rejectsWith(CodeBundle.create(`${dir}/nothing.ts`), "missing");
  });
});

Deno.test("bundle: file count, file size and total size are bounded", async () => {
  await withTree({
    "main.ts": `import "./a.ts"; import "./b.ts";`,
    "a.ts": "x".repeat(100),
    "b.ts": "y".repeat(100),
  }, async (dir) => {
    await rejectsWith(
      CodeBundle.create(`${dir}/main.ts`, { maxFiles: 2 }),
      "limit",
      "more than 2 files",
    );
    await rejectsWith(
      CodeBundle.create(`${dir}/main.ts`, { maxFileSize: 99 }),
      "limit",
      "100 bytes, more than 99",
    );
    await rejectsWith(
      CodeBundle.create(`${dir}/main.ts`, { maxTotalSize: 200 }),
      "limit",
      "200 bytes",
    );
    const ok = await CodeBundle.create(`${dir}/main.ts`, {
      maxFiles: 3,
      maxFileSize: 100,
      maxTotalSize: 233,
    });
    assert.equal(ok.manifest.files.length, 3);
  });
});

Deno.test("bundle: a symlink inside the root is followed, one leaving it is refused", async () => {
  await withTree({ "outside/secret.ts": `export const s = 1;` }, async (outside) => {
    await withTree(
      { "root/main.ts": `import "./link.ts";`, "root/real.ts": `export {};` },
      async (dir) => {
        await Deno.symlink(`${dir}/root/real.ts`, `${dir}/root/link.ts`);
        const b = await CodeBundle.create(`${dir}/root/main.ts`);
        assert.deepEqual(paths(b), ["link.ts", "main.ts"]);
        assert.equal(b.manifest.files[0].sha256, await sha("export {};"));
        await Deno.remove(`${dir}/root/link.ts`);
        await Deno.symlink(`${outside}/outside/secret.ts`, `${dir}/root/link.ts`);
        await rejectsWith(CodeBundle.create(`${dir}/root/main.ts`), "escape", "secret.ts");
      },
    );
  });
});

Deno.test("bundle: an explicit root refuses files outside it; include adds files no import names", async () => {
  await withTree({
    "app/main.ts": `import "../shared/x.ts";`,
    "shared/x.ts": `export {};`,
    "app/worker.ts": `import "./w_dep.ts";`,
    "app/w_dep.ts": `export {};`,
    "app/data.bin": new Uint8Array([0, 1, 2, 255]),
  }, async (dir) => {
    await rejectsWith(
      CodeBundle.create(`${dir}/app/main.ts`, { root: `${dir}/app` }),
      "escape",
      "x.ts",
    );
    const b = await CodeBundle.create(`${dir}/app/main.ts`, {
      root: pathToFileURL(dir),
      include: [`${dir}/app/worker.ts`, pathToFileURL(`${dir}/app/data.bin`)],
    });
    assert.deepEqual(paths(b), [
      "app/data.bin",
      "app/main.ts",
      "app/w_dep.ts",
      "app/worker.ts",
      "shared/x.ts",
    ]);
    assert.equal(b.manifest.entry, "app/main.ts");
    assert.deepEqual(await b.read("app/data.bin"), new Uint8Array([0, 1, 2, 255]));
  });
});

Deno.test("bundle: a file edited after bundling is not shipped under its old hash", async () => {
  await withTree({ "main.ts": `import "./a.ts";`, "a.ts": `export const a = 1;` }, async (dir) => {
    const b = await CodeBundle.create(`${dir}/main.ts`);
    await Deno.writeTextFile(`${dir}/a.ts`, `export const a = 2;`);
    await rejectsWith(b.read("a.ts"), "changed", "a.ts");
    await Deno.writeTextFile(`${dir}/a.ts`, `export const a = 1; // longer`);
    await rejectsWith(b.read("a.ts"), "changed");
    await Deno.remove(`${dir}/a.ts`);
    await rejectsWith(b.read("a.ts"), "changed");
    await rejectsWith(b.read("nope.ts"), "missing");
    await rejectsWith(b.readSha("0".repeat(64)), "missing");
    assert.equal((await b.read("main.ts")).length, 16);
  });
});

Deno.test("bundle: a wide graph read concurrently gives the same manifest and exact limits", async () => {
  const files: Record<string, string> = {
    "main.ts": Array.from({ length: 60 }, (_, i) => `import "./m${i}.ts";`).join("\n"),
  };
  for (let i = 0; i < 60; i++) {
    files[`m${i}.ts`] = `import "./m${(i + 7) % 60}.ts";\n// ${"x".repeat(i)}`;
  }
  await withTree(files, async (dir) => {
    const a = await CodeBundle.create(`${dir}/main.ts`);
    const b = await CodeBundle.create(`${dir}/main.ts`);
    assert.equal(a.manifest.files.length, 61);
    assert.deepEqual(a.manifest, b.manifest);
    const total = a.manifest.files.reduce((n, f) => n + f.size, 0);
    await rejectsWith(CodeBundle.create(`${dir}/main.ts`, { maxFiles: 60 }), "limit", "60 files");
    await rejectsWith(CodeBundle.create(`${dir}/main.ts`, { maxTotalSize: total - 1 }), "limit");
    const exact = await CodeBundle.create(`${dir}/main.ts`, { maxFiles: 61, maxTotalSize: total });
    assert.deepEqual(exact.manifest, a.manifest);
  });
});
