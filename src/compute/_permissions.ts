/**
 * Internal: the permissions a server's Worker gets, which are exactly what
 * the computation declares intersected with what the node operator allows
 * (none by default), and the `deno run` flags that give its server process
 * the same ones (a Worker can never have more than its process).
 *
 * Shapes are Deno's permission descriptors for `read`, `write`, `net`,
 * `env`, `run`, `sys`, `ffi` and `import`: each `true` (all), `false` or
 * absent (none), or a list. `"inherit"` is never honoured: a computation
 * that could inherit would get whatever the node process has. Declared
 * permissions come from a client, so every shape is checked and a bad one
 * is a `TypeError` naming it.
 *
 * How two lists meet, per kind:
 * - paths (`read`, `write`, `ffi`): resolved against `cwd`; a declared path
 *   inside an allowed one is kept, an allowed path inside a declared one is
 *   kept (the narrower of the two wins either way).
 * - hosts (`net`, `import`): `host` covers every `host:port`; a declared
 *   `host` meeting an allowed `host:port` gives `host:port`.
 * - names (`env`, `run`, `sys`): exact matches; an `env` entry ending in
 *   `*` (Deno's prefix form) covers the names it prefixes.
 *
 * @module
 */
import * as nodePath from "node:path";

/** The permission kinds a server's Worker can be given. */
export const PERMISSION_KINDS = [
  "read",
  "write",
  "net",
  "env",
  "run",
  "sys",
  "ffi",
  "import",
] as const;

/** One permission kind. */
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** One kind's grant: all, none, or a list. */
export type PermissionGrant = boolean | string[];

/** Declared or allowed permissions (absent kinds are none). */
export type PermissionSet = Partial<Record<PermissionKind, PermissionGrant | undefined>>;

/** Every kind explicit: what a Worker is started with. */
export type ResolvedPermissions = Record<PermissionKind, PermissionGrant>;

/** At most this many entries per kind, and characters per entry (declared values are hostile). */
const MAX_ENTRIES = 256, MAX_ENTRY = 4096;

const PATH_KINDS = new Set<PermissionKind>(["read", "write", "ffi"]);
const HOST_KINDS = new Set<PermissionKind>(["net", "import"]);

/** Options for {@linkcode intersectPermissions}. */
export interface IntersectOptions {
  /** What relative paths are resolved against (default `Deno.cwd()`). */
  cwd?: string;
}

/**
 * `declared ∩ allowed`, every kind explicit, none by default.
 *
 * @example
 * ```ts ignore
 * intersectPermissions({ read: ["/data/in"], net: true }, { read: ["/data"] }, { cwd: "/" });
 * // { read: ["/data/in"], write: false, net: false, env: false, ... }
 * ```
 */
export function intersectPermissions(
  declared: PermissionSet | "none" | undefined,
  allowed: PermissionSet | "none" | undefined,
  options?: IntersectOptions,
): ResolvedPermissions {
  const d = check(declared, "declared");
  const a = check(allowed, "allowed");
  let cwd = options?.cwd;
  const out = {} as ResolvedPermissions;
  for (const kind of PERMISSION_KINDS) {
    let x = d[kind], y = a[kind];
    if (x === false || y === false) {
      out[kind] = false;
      continue;
    }
    if (PATH_KINDS.has(kind)) {
      cwd ??= Deno.cwd();
      if (x !== true) x = x.map((p) => nodePath.resolve(cwd!, p));
      if (y !== true) y = y.map((p) => nodePath.resolve(cwd!, p));
    }
    if (x === true) out[kind] = y === true ? true : dedupe(y);
    else if (y === true) out[kind] = dedupe(x);
    else {
      const covers = PATH_KINDS.has(kind)
        ? pathCovers
        : HOST_KINDS.has(kind)
        ? hostCovers
        : kind === "env"
        ? envCovers
        : exact;
      const kept: string[] = [];
      for (const p of x) {
        for (const q of y) {
          if (covers(q, p)) kept.push(p);
          else if (covers(p, q)) kept.push(q);
        }
      }
      out[kind] = dedupe(kept);
    }
    if (Array.isArray(out[kind]) && (out[kind] as string[]).length === 0) out[kind] = false;
  }
  return out;
}

/**
 * The `deno run` flags that grant `perms` (plus read on `extraRead`) to a process.
 *
 * @example
 * ```ts ignore
 * permissionFlags({ ...none, net: ["127.0.0.1:8000"] }, ["/code"]);
 * // ["--allow-read=/code", "--allow-net=127.0.0.1:8000"]
 * ```
 */
export function permissionFlags(perms: ResolvedPermissions, extraRead: string[] = []): string[] {
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    let g = perms[kind];
    if (kind === "read" && g !== true && extraRead.length > 0) {
      g = dedupe([...extraRead, ...(g === false ? [] : g)]);
    }
    if (g === true) flags.push(`--allow-${kind}`);
    else if (g !== false && g.length > 0) {
      // A comma inside an entry would split it into two grants.
      for (const e of g) {
        if (e.includes(",")) throw new TypeError(`permission ${kind}: entry with a comma`);
      }
      flags.push(`--allow-${kind}=${g.join(",")}`);
    }
  }
  return flags;
}

/** `perms` with `read` widened by `extraRead` (for the Worker: its code folder). */
export function withRead(perms: ResolvedPermissions, extraRead: string[]): ResolvedPermissions {
  const r = perms.read;
  if (r === true) return perms;
  return { ...perms, read: dedupe([...extraRead, ...(r === false ? [] : r)]) };
}

/**
 * Whether `perms` lets a Worker write to `path` or to anything inside it
 * (`path` absolute). A server must never write to its code folder (it is
 * made of hard links to the node's read-only store objects) or to the store.
 *
 * @example
 * ```ts ignore
 * writeReaches({ ...none, write: ["/srv"] }, "/srv/cache"); // true
 * ```
 */
export function writeReaches(perms: ResolvedPermissions, path: string): boolean {
  const w = perms.write;
  if (w === false) return false;
  if (w === true) return true;
  const p = nodePath.resolve(path);
  return w.some((e) => pathCovers(e, p) || pathCovers(p, e));
}

function check(
  set: PermissionSet | "none" | undefined,
  what: string,
): Record<PermissionKind, PermissionGrant> {
  const out = {} as Record<PermissionKind, PermissionGrant>;
  if (set === undefined || set === "none") {
    for (const k of PERMISSION_KINDS) out[k] = false;
    return out;
  }
  if (set === null || typeof set !== "object" || Array.isArray(set)) {
    throw new TypeError(`${what} permissions: an object, "none" or undefined expected`);
  }
  for (const key of Object.keys(set)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(key)) {
      throw new TypeError(`${what} permissions: unknown kind '${key.slice(0, 64)}'`);
    }
  }
  for (const k of PERMISSION_KINDS) {
    const g: unknown = (set as Record<string, unknown>)[k];
    if (g === undefined || g === false) out[k] = false;
    else if (g === true) out[k] = true;
    else if (Array.isArray(g)) {
      if (g.length > MAX_ENTRIES) {
        throw new TypeError(`${what} permissions: ${k} has more than ${MAX_ENTRIES} entries`);
      }
      const list: string[] = [];
      for (const e of g) {
        const s = e instanceof URL
          ? (e.protocol === "file:" ? decodeURIComponent(e.pathname) : "")
          : e;
        if (typeof s !== "string" || s.length === 0 || s.length > MAX_ENTRY || s.includes("\0")) {
          throw new TypeError(`${what} permissions: ${k} holds an entry that is not a valid name`);
        }
        list.push(s);
      }
      out[k] = list;
    } else {
      throw new TypeError(
        `${what} permissions: ${k} must be true, false or a list${
          g === "inherit" ? ' ("inherit" is never granted)' : ""
        }`,
      );
    }
  }
  return out;
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** Whether path `outer` is `inner` or one of its ancestors (both absolute, normalized). */
function pathCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  const prefix = outer.endsWith(nodePath.sep) ? outer : outer + nodePath.sep;
  return inner.startsWith(prefix);
}

/** Splits `host:port` (IPv6 in brackets); a bare host has port `null`. */
function splitHost(e: string): [string, string | null] {
  const v = e.toLowerCase();
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    if (end > 0 && v[end + 1] === ":") return [v.slice(0, end + 1), v.slice(end + 2)];
    return [v, null];
  }
  const i = v.lastIndexOf(":");
  if (i > 0 && v.indexOf(":") === i) return [v.slice(0, i), v.slice(i + 1)];
  return [v, null];
}

function hostCovers(outer: string, inner: string): boolean {
  const [oh, op] = splitHost(outer);
  const [ih, ip] = splitHost(inner);
  return oh === ih && (op === null || op === ip);
}

function envCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  if (outer.endsWith("*")) {
    const p = outer.slice(0, -1);
    return inner.endsWith("*") ? inner.slice(0, -1).startsWith(p) : inner.startsWith(p);
  }
  return false;
}

function exact(outer: string, inner: string): boolean {
  return outer === inner;
}
