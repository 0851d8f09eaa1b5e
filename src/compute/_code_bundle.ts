/**
 * Code shipping, client side: finds a computation's module and every file it
 * imports by a relative specifier, transitively, and describes them in a
 * content-addressed `BundleManifest` that a node checks against its cache
 * (`_code_cache.ts`) so that it is sent only the files it lacks.
 *
 * **How imports are found.** With `es-module-lexer` (v3), a real ES module
 * lexer that also lexes the TypeScript that type stripping erases: type
 * annotations, generics, `import type` / `export type` (reported, and here
 * skipped: they do not exist at run time), `type` and `interface`
 * declarations, `declare` blocks; in practice also enums, namespaces,
 * decorators, parameter properties and `satisfies` (tests pin each). It
 * does not lex JSX, and a few rare regular expressions trip it (a `/`
 * inside a character class followed by `import(`). For a module it cannot
 * lex, the bundler falls back to Deno's own parser through
 * `deno info --json --no-remote --no-npm --no-config` on that file (a
 * subprocess: it needs `--allow-run` for the `deno` binary, is used only
 * when the `deno` running this code may be run, and is off in a
 * `deno compile`d binary, whose executable is not `deno`). `deno info` was
 * not made the primary way because it costs a process (~300 ms) per
 * bundle, needs `--allow-run`, and is missing from compiled binaries; the
 * lexer runs in-process in microseconds.
 *
 * **What travels.** Static `import` / `export … from` and `import("./x")`
 * with a string literal, resolved against the importing file; any file
 * type (a JSON or Wasm import travels as bytes; only JavaScript and
 * TypeScript files are lexed for further imports). A `?query` or `#hash`
 * is ignored for finding the file. Not found by design: a dynamic import
 * of a computed specifier (listed in `unresolved`, not an error), a
 * `new Worker(new URL("./w.ts", import.meta.url))` or a data file read at
 * run time: name those in `include`.
 *
 * **What does not travel.** `node:` built-ins and `data:` modules need
 * nothing shipped: every node resolves them offline. Bare and remote
 * specifiers (`npm:`, `jsr:`, `https:`, package names, import-map entries)
 * and absolute ones
 * (`/x.ts`, `file:///x.ts`): a node gets no network by default and the
 * layout must be relocatable, so they fail the bundle with one
 * `BundleError` listing every one of them and the file importing it. The
 * `external` option names those the node provides itself (for example the
 * denocos package); `import type` of anything is never an error.
 *
 * **Bounds.** At most `maxFiles` files (default 1,000), each at most
 * `maxFileSize` (16 MiB), together at most `maxTotalSize` (64 MiB), checked
 * before each file is read. Paths in the manifest are relative to the
 * bundle's root (`root`, default the deepest folder holding every file),
 * `/`-separated and safe (`pathProblem`). A file whose real path (after
 * symlinks) leaves the root's real path is refused (`"escape"`). Import
 * cycles are fine: each file is visited once. Up to 8 files are read and
 * lexed at once (a wide graph of 200 files, 1 MB: ~26–31 ms against ~38–40
 * ms one at a time; a chain gains nothing); the manifest and the lists in
 * errors are sorted, so the result does not depend on which read finished
 * first (only which file a limit error names may).
 *
 * @module
 */
import { init, parse } from "es-module-lexer";
import * as nodePath from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  BundleError,
  type BundleFile,
  type BundleLimits,
  type BundleManifest,
  pathProblem,
  resolveLimits,
  sha256Hex,
} from "./_bundle_manifest.ts";

/** Extensions whose files are lexed for imports; every other file travels as bytes. */
const LEXED = new Set([".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx"]);
/** Specifiers every node resolves without files or network: Node built-ins, inline modules. */
const BUILT_IN = /^(node|data):/;
/** How much of a non-literal dynamic import's expression `unresolved` keeps. */
const MAX_EXPRESSION = 200;

/** Options for `CodeBundle.create`. */
export interface CodeBundleOptions extends BundleLimits {
  /** The folder paths are relative to (default: the deepest folder holding every file). */
  root?: string | URL;
  /** More files to ship (and lex) that no import names: Worker scripts, data files. */
  include?: readonly (string | URL)[];
  /** Bare or remote specifiers the node provides: not shipped and not an error. */
  external?: (specifier: string) => boolean;
  /**
   * The `deno` executable for modules the lexer cannot lex, or `false` for
   * none (such a module then fails with `"parse"`). Default: `Deno.execPath()`
   * when it is a `deno` binary and `--allow-run` for it is already granted.
   */
  deno?: string | false;
}

/** A dynamic import whose specifier is computed at run time: not shipped. */
export interface UnresolvedImport {
  /** The importing file, relative to the root. */
  readonly importer: string;
  /** The specifier expression as written (at most 200 characters). */
  readonly expression: string;
}

interface Found {
  /** Absolute lexical path (as imported). */
  readonly abs: string;
  /** Absolute real path (symlinks resolved): what is read. */
  readonly real: string;
  readonly sha256: string;
  readonly size: number;
}

interface Dependency {
  readonly specifier: string;
  readonly dynamic: boolean;
}

/**
 * A computation's code as a content-addressed bundle: `manifest` to send
 * first, `read` / `readSha` for the bytes of the files a node asks for.
 * The bytes are not kept in memory: they are read again on demand and
 * checked against the manifest, so a file edited since `create` fails with
 * `"changed"` instead of shipping something the hash does not describe.
 */
export class CodeBundle {
  /** What to send first. */
  readonly manifest: BundleManifest;
  /** The absolute folder the manifest's paths are relative to. */
  readonly root: string;
  /** Dynamic imports with computed specifiers, which were not followed. */
  readonly unresolved: readonly UnresolvedImport[];
  readonly #byPath: ReadonlyMap<string, Found>;
  readonly #bySha: ReadonlyMap<string, Found>;

  private constructor(
    manifest: BundleManifest,
    root: string,
    unresolved: readonly UnresolvedImport[],
    byPath: ReadonlyMap<string, Found>,
  ) {
    this.manifest = manifest;
    this.root = root;
    this.unresolved = unresolved;
    this.#byPath = byPath;
    const bySha = new Map<string, Found>();
    for (const f of byPath.values()) bySha.set(f.sha256, f);
    this.#bySha = bySha;
  }

  /**
   * Bundles `module` (a `file:` URL or path) and what it imports relatively.
   * Rejects with `BundleError` (see the module doc for the reasons). Needs
   * `--allow-read` for the files.
   *
   * @param module the entry module
   * @param options root, extra files, externals, limits
   * @returns the bundle
   */
  static async create(module: string | URL, options?: CodeBundleOptions): Promise<CodeBundle> {
    const limits = resolveLimits(options);
    const entry = toPath(module);
    const seen = new Set<string>([entry]);
    const queue: { abs: string; from: string | null }[] = [{ abs: entry, from: null }];
    for (const extra of options?.include ?? []) {
      const abs = toPath(extra);
      if (!seen.has(abs)) {
        seen.add(abs);
        queue.push({ abs, from: null });
      }
    }
    const found: Found[] = [];
    const external: string[] = [];
    const absolute: string[] = [];
    const missing: string[] = [];
    const unresolvedAbs: { importer: string; expression: string }[] = [];
    let total = 0;
    let fileCount = 0;
    const visit = async (abs: string, from: string | null): Promise<void> => {
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(abs);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        missing.push(from === null ? abs : `${abs} (imported by ${from})`);
        return;
      }
      if (!info.isFile) {
        missing.push(`${abs} is not a regular file`);
        return;
      }
      // Count and reserve before reading, so that concurrent visits cannot overshoot.
      if (++fileCount > limits.maxFiles) {
        throw new BundleError("limit", `the bundle would have more than ${limits.maxFiles} files`);
      }
      if (info.size > limits.maxFileSize) {
        throw new BundleError(
          "limit",
          `'${abs}' has ${info.size} bytes, more than ${limits.maxFileSize}`,
        );
      }
      total += info.size;
      if (total > limits.maxTotalSize) {
        throw new BundleError(
          "limit",
          `the bundle would have more than ${limits.maxTotalSize} bytes`,
        );
      }
      const real = await Deno.realPath(abs);
      const bytes = await readBounded(real, limits.maxFileSize);
      total += bytes.length - info.size;
      found.push({ abs, real, sha256: await sha256Hex(bytes), size: bytes.length });
      if (!LEXED.has(nodePath.extname(abs).toLowerCase())) return;
      const importerUrl = pathToFileURL(abs);
      for (const dep of await dependencies(bytes, abs, real, options?.deno, unresolvedAbs)) {
        const s = dep.specifier;
        if (s.startsWith("./") || s.startsWith("../")) {
          const url = new URL(s, importerUrl);
          url.search = "";
          url.hash = "";
          const target = fileURLToPath(url);
          if (!seen.has(target)) {
            seen.add(target);
            queue.push({ abs: target, from: abs });
          }
        } else if (s.startsWith("/") || s.toLowerCase().startsWith("file:")) {
          absolute.push(`${JSON.stringify(s)} in ${abs}`);
        } else if (!BUILT_IN.test(s) && options?.external?.(s) !== true) {
          external.push(`${JSON.stringify(s)} in ${abs}`);
        }
      }
    };
    await drain(queue, visit);
    if (total > limits.maxTotalSize) {
      throw new BundleError(
        "limit",
        `the bundle would have more than ${limits.maxTotalSize} bytes`,
      );
    }
    // Visits finish in any order: sort what is reported so the same tree gives the same error.
    for (const list of [external, absolute, missing]) list.sort();
    if (external.length > 0) {
      throw new BundleError(
        "external",
        "bare and remote imports are not shipped (nodes have no network); make them relative or mark them external",
        external,
      );
    }
    if (absolute.length > 0) {
      throw new BundleError("absolute", "absolute imports cannot be shipped", absolute);
    }
    if (missing.length > 0) throw new BundleError("missing", "files not found", missing);

    const root = options?.root !== undefined
      ? toPath(options.root)
      : commonFolder(found.map((f) => nodePath.dirname(f.abs)));
    const realRoot = await Deno.realPath(root);
    const byPath = new Map<string, Found>();
    const escapes: string[] = [];
    for (const f of found) {
      const rel = relativeInside(root, f.abs);
      if (rel === null || relativeInside(realRoot, f.real) === null) {
        escapes.push(f.abs === f.real ? f.abs : `${f.abs} -> ${f.real}`);
        continue;
      }
      const problem = pathProblem(rel);
      if (problem !== null) {
        throw new BundleError("path", "unsafe bundle path", [`${rel}: ${problem}`]);
      }
      byPath.set(rel, f);
    }
    if (escapes.length > 0) {
      escapes.sort();
      throw new BundleError("escape", `files outside the bundle's root ${root}`, escapes);
    }
    const files: BundleFile[] = [...byPath]
      .map(([path, f]) => ({ path, sha256: f.sha256, size: f.size }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const unresolved = unresolvedAbs.sort(byImporter).map((u) => ({
      importer: relativeInside(root, u.importer) ?? u.importer,
      expression: u.expression,
    }));
    return new CodeBundle(
      { entry: relativeInside(root, entry)!, files },
      root,
      unresolved,
      byPath,
    );
  }

  /**
   * The bytes of the file at `path` (a manifest path), read again and
   * checked: rejects with `BundleError` `"changed"` if the file no longer
   * matches its hash or size, `"missing"` if the path is not in the bundle.
   *
   * @param path a path from `manifest.files`
   * @returns the file's bytes
   */
  read(path: string): Promise<Uint8Array> {
    const f = this.#byPath.get(path);
    if (f === undefined) {
      return Promise.reject(new BundleError("missing", `'${path}' is not in the bundle`));
    }
    return reread(f);
  }

  /**
   * The bytes of the file with this SHA-256 (what a node asks for), read
   * again and checked as `read` does.
   *
   * @param sha256 a hash from `manifest.files`
   * @returns the file's bytes
   */
  readSha(sha256: string): Promise<Uint8Array> {
    const f = this.#bySha.get(sha256);
    if (f === undefined) {
      return Promise.reject(
        new BundleError("missing", `no file with sha256 ${sha256} in the bundle`),
      );
    }
    return reread(f);
  }
}

/** How many files are read and lexed at once. */
const CONCURRENCY = 8;

/**
 * Runs `visit` on every item of `queue`, including the ones visits append,
 * at most `CONCURRENCY` at a time; rejects with the first failure once
 * every started visit has settled (so nothing still reads after it).
 */
function drain<T extends { abs: string; from: string | null }>(
  queue: T[],
  visit: (abs: string, from: string | null) => Promise<void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let active = 0;
    let failed = false;
    let failure: unknown;
    const pump = (): void => {
      while (!failed && active < CONCURRENCY && next < queue.length) {
        const { abs, from } = queue[next++];
        active++;
        visit(abs, from).then(settled, (e) => {
          if (!failed) {
            failed = true;
            failure = e;
          }
          settled();
        });
      }
      if (active > 0) return;
      if (failed) reject(failure);
      else if (next >= queue.length) resolve();
    };
    const settled = (): void => {
      active--;
      pump();
    };
    pump();
  });
}

function byImporter(a: { importer: string; expression: string }, b: typeof a): number {
  const k1 = `${a.importer}\u0000${a.expression}`;
  const k2 = `${b.importer}\u0000${b.expression}`;
  return k1 < k2 ? -1 : k1 > k2 ? 1 : 0;
}

async function reread(f: Found): Promise<Uint8Array> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readBounded(f.real, f.size);
  } catch (e) {
    if (e instanceof BundleError || e instanceof Deno.errors.NotFound) {
      throw new BundleError("changed", `'${f.abs}' changed since it was bundled`);
    }
    throw e;
  }
  if (bytes.length !== f.size || await sha256Hex(bytes) !== f.sha256) {
    throw new BundleError("changed", `'${f.abs}' changed since it was bundled`);
  }
  return bytes;
}

function toPath(p: string | URL): string {
  if (p instanceof URL || p.startsWith("file:")) {
    const url = new URL(p);
    if (url.protocol !== "file:") {
      throw new BundleError("absolute", `only file: modules can be shipped, not ${url.href}`);
    }
    return fileURLToPath(url);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(p) && !/^[a-z]:[\\/]/i.test(p)) {
    throw new BundleError("absolute", `only file: modules can be shipped, not ${p}`);
  }
  return nodePath.resolve(p);
}

/** `abs` relative to `root` with `/` separators, or `null` if it is not inside. */
function relativeInside(root: string, abs: string): string | null {
  const rel = nodePath.relative(root, abs);
  if (
    rel === "" || rel === ".." || rel.startsWith(`..${nodePath.sep}`) || nodePath.isAbsolute(rel)
  ) {
    return null;
  }
  return nodePath.sep === "/" ? rel : rel.split(nodePath.sep).join("/");
}

function commonFolder(folders: readonly string[]): string {
  let common = folders[0];
  for (const f of folders) {
    while (relativeInside(common, f) === null && f !== common) {
      const up = nodePath.dirname(common);
      if (up === common) return common;
      common = up;
    }
  }
  return common;
}

/** Reads at most `max` bytes of a regular file; a file longer than `max` is refused. */
async function readBounded(path: string, max: number): Promise<Uint8Array<ArrayBuffer>> {
  using file = await Deno.open(path, { read: true });
  const info = await file.stat();
  if (!info.isFile) throw new BundleError("missing", `'${path}' is not a regular file`);
  if (info.size > max) throw new BundleError("limit", `'${path}' has more than ${max} bytes`);
  // One byte more than expected tells a file that grew since stat from one that did not.
  const buf = new Uint8Array(info.size + 1);
  let n = 0;
  while (n < buf.length) {
    const r = await file.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  if (n > info.size) throw new BundleError("changed", `'${path}' grew while it was read`);
  return buf.slice(0, n);
}

const decoder = new TextDecoder();

/** The run-time imports of one module (type-only ones are left out). */
async function dependencies(
  bytes: Uint8Array,
  abs: string,
  real: string,
  deno: string | false | undefined,
  unresolved: { importer: string; expression: string }[],
): Promise<Dependency[]> {
  const source = decoder.decode(bytes);
  await init();
  let imports;
  try {
    [imports] = parse(source, abs);
  } catch (e) {
    const exe = deno === undefined ? autoDeno() : deno;
    if (exe === false || exe === null) {
      throw new BundleError("parse", "cannot lex a module", [
        `${abs}: ${e instanceof Error ? e.message : String(e)}`,
      ]);
    }
    return await denoInfo(exe, abs, real);
  }
  const out: Dependency[] = [];
  for (const imp of imports) {
    if (imp.type === "import-meta") continue;
    if (imp.type === "dynamic") {
      if (imp.probablyTypeOnly) continue;
      if (imp.specifier === undefined || imp.glob) {
        const end = imp.end > imp.start ? imp.end : imp.start + MAX_EXPRESSION;
        unresolved.push({
          importer: abs,
          expression: source.slice(imp.start, Math.min(end, imp.start + MAX_EXPRESSION)),
        });
        continue;
      }
      out.push({ specifier: imp.specifier, dynamic: true });
    } else {
      if (imp.typeOnly) continue;
      out.push({ specifier: imp.specifier, dynamic: false });
    }
  }
  return out;
}

/** This process's `deno` if it is one and may already be run, else `null`. */
function autoDeno(): string | null {
  try {
    const exe = Deno.execPath();
    if (!/^deno(\.exe)?$/i.test(nodePath.basename(exe))) return null;
    const state = Deno.permissions.querySync({ name: "run", command: exe }).state;
    return state === "granted" ? exe : null;
  } catch {
    return null;
  }
}

/** The run-time imports of `abs` as Deno's own parser sees them (`deno info --json`). */
async function denoInfo(deno: string, abs: string, real: string): Promise<Dependency[]> {
  const out = await new Deno.Command(deno, {
    args: ["info", "--json", "--no-remote", "--no-npm", "--no-lock", "--no-config", real],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const fail = (why: string) =>
    new BundleError("parse", "cannot parse a module", [`${abs}: ${why}`]);
  if (!out.success) {
    throw fail(decoder.decode(out.stderr).trim().split("\n")[0] ?? "deno info failed");
  }
  let graph: { roots?: unknown; modules?: unknown };
  try {
    graph = JSON.parse(decoder.decode(out.stdout));
  } catch {
    throw fail("deno info printed no JSON");
  }
  const root = Array.isArray(graph.roots) ? graph.roots[0] : undefined;
  const mod = Array.isArray(graph.modules)
    ? graph.modules.find((m) => m?.specifier === root && typeof root === "string")
    : undefined;
  if (mod === undefined) throw fail("deno info did not describe the module");
  if (typeof mod.error === "string") throw fail(mod.error);
  const deps: Dependency[] = [];
  for (const d of Array.isArray(mod.dependencies) ? mod.dependencies : []) {
    // `code` is a run-time edge; a dependency with only `type` is erased.
    if (typeof d?.specifier !== "string" || d.code === undefined) continue;
    deps.push({ specifier: d.specifier, dynamic: d.isDynamic === true });
  }
  return deps;
}
