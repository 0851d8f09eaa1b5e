/**
 * The bundle manifest shared by the client that ships a computation's code
 * (`_code_bundle.ts`) and the node that caches it (`_code_cache.ts`): which
 * files, at which relative paths, with which SHA-256 and size, and which one
 * is the entry module. Also the limits and the path rules both sides apply,
 * so that the client refuses early what the node would refuse anyway.
 *
 * A manifest that arrives from the network is hostile: `validateManifest`
 * checks its shape, every path, every hash and every limit before anything
 * is allocated or written for it.
 *
 * @module
 */

/** One file of a bundle. */
export interface BundleFile {
  /** Its path relative to the bundle's root: `/`-separated, never absolute, no `.` or `..`. */
  readonly path: string;
  /** The SHA-256 of its bytes, 64 lowercase hex digits. */
  readonly sha256: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** A computation's code: its files and which one is the entry module. */
export interface BundleManifest {
  /** The entry module's path (one of `files`). */
  readonly entry: string;
  /** Every file, each path once. */
  readonly files: readonly BundleFile[];
}

/** How much a bundle may hold. */
export interface BundleLimits {
  /** At most this many files (default 1,000). */
  maxFiles?: number;
  /** Each file at most this many bytes (default 16 MiB). */
  maxFileSize?: number;
  /** All files together at most this many bytes (default 64 MiB). */
  maxTotalSize?: number;
}

/** The default limits. */
export const DEFAULT_BUNDLE_LIMITS: Readonly<Required<BundleLimits>> = Object.freeze({
  maxFiles: 1000,
  maxFileSize: 16 * 1024 * 1024,
  maxTotalSize: 64 * 1024 * 1024,
});

/** Longest path segment, in UTF-8 bytes (the common file-system limit). */
export const MAX_SEGMENT_BYTES = 255;
/** Longest whole path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;

/** Why a bundle was refused. */
export type BundleErrorReason =
  /** A file imports a bare or remote specifier (`npm:`, `jsr:`, `https:`, a package name). */
  | "external"
  /** A file imports an absolute specifier (`/x.ts`, `file:///x.ts`): it cannot be relocated. */
  | "absolute"
  /** A relatively imported file does not exist or is not a regular file. */
  | "missing"
  /** A limit was exceeded. */
  | "limit"
  /** A file (or a symlink's target) lies outside the bundle's root. */
  | "escape"
  /** A path breaks the path rules. */
  | "path"
  /** A module could not be lexed. */
  | "parse"
  /** A file changed on disk after the bundle was made. */
  | "changed"
  /** A manifest's shape is wrong. */
  | "malformed"
  /** Bytes do not match the SHA-256 they were sent under. */
  | "hash";

/**
 * A bundle could not be made, read or accepted. `reason` says why and
 * `details` lists every offender (each external specifier with the file
 * importing it, each missing file…), so that one error shows all of them.
 */
export class BundleError extends Error {
  /** Why. */
  readonly reason: BundleErrorReason;
  /** What, one entry per offender. */
  readonly details: readonly string[];

  /**
   * Creates a `BundleError`.
   *
   * @param reason why
   * @param message the summary
   * @param details one entry per offender
   */
  constructor(reason: BundleErrorReason, message: string, details: readonly string[] = []) {
    super(details.length === 0 ? message : `${message}: ${details.join("; ")}`);
    this.name = "BundleError";
    this.reason = reason;
    this.details = details;
  }
}

const encoder = new TextEncoder();
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Why `path` is not a safe bundle path, or `null` if it is. Safe: a
 * non-empty string of `/`-separated segments, each non-empty, neither `.`
 * nor `..`, at most 255 UTF-8 bytes, the whole at most 4,096 bytes; no NUL
 * or other control character, no `\` and no `:` (a Windows separator and
 * drive mark: the layout must mean the same on every node).
 */
export function pathProblem(path: unknown): string | null {
  if (typeof path !== "string") return "not a string";
  if (path.length === 0) return "empty";
  if (path.length > MAX_PATH_BYTES || encoder.encode(path).length > MAX_PATH_BYTES) {
    return `longer than ${MAX_PATH_BYTES} bytes`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return "contains a control character";
  if (path.includes("\\")) return "contains '\\'";
  if (path.includes(":")) return "contains ':'";
  for (const segment of path.split("/")) {
    if (segment === "") return path.startsWith("/") ? "absolute" : "has an empty segment";
    if (segment === "." || segment === "..") return `has a '${segment}' segment`;
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) {
      return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return null;
}

/** Whether `value` is a SHA-256 as manifests write it (64 lowercase hex digits). */
export function isSha256(value: unknown): value is string {
  return typeof value === "string" && SHA256_HEX.test(value);
}

/** The SHA-256 of `bytes`, as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** `limits` with the defaults filled in. */
export function resolveLimits(limits?: BundleLimits): Required<BundleLimits> {
  return {
    maxFiles: limits?.maxFiles ?? DEFAULT_BUNDLE_LIMITS.maxFiles,
    maxFileSize: limits?.maxFileSize ?? DEFAULT_BUNDLE_LIMITS.maxFileSize,
    maxTotalSize: limits?.maxTotalSize ?? DEFAULT_BUNDLE_LIMITS.maxTotalSize,
  };
}

/**
 * Checks an untrusted manifest and returns a clean copy (extra fields
 * dropped), or throws `BundleError`: `"malformed"` for a wrong shape, a bad
 * hash or size, a duplicate path, a path that is both a file and a folder,
 * or an entry that is not one of the files; `"path"` for an unsafe path;
 * `"limit"` for too many files or bytes. The file count is checked before
 * the files are looked at.
 */
export function validateManifest(value: unknown, limits?: BundleLimits): BundleManifest {
  const { maxFiles, maxFileSize, maxTotalSize } = resolveLimits(limits);
  if (typeof value !== "object" || value === null) {
    throw new BundleError("malformed", "a bundle manifest must be an object");
  }
  const { entry, files } = value as Record<string, unknown>;
  if (!Array.isArray(files) || files.length === 0) {
    throw new BundleError("malformed", "a bundle manifest needs a non-empty files array");
  }
  if (files.length > maxFiles) {
    throw new BundleError("limit", `the bundle has ${files.length} files, more than ${maxFiles}`);
  }
  const out: BundleFile[] = [];
  const paths = new Set<string>();
  let total = 0;
  for (const f of files) {
    if (typeof f !== "object" || f === null) {
      throw new BundleError("malformed", "a bundle file must be an object");
    }
    const { path, sha256, size } = f as Record<string, unknown>;
    const problem = pathProblem(path);
    if (problem !== null) {
      throw new BundleError("path", "unsafe bundle path", [`${JSON.stringify(path)}: ${problem}`]);
    }
    const p = path as string;
    if (!isSha256(sha256)) throw new BundleError("malformed", `bad sha256 for '${p}'`);
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw new BundleError("malformed", `bad size for '${p}'`);
    }
    if (size > maxFileSize) {
      throw new BundleError("limit", `'${p}' has ${size} bytes, more than ${maxFileSize}`);
    }
    total += size;
    if (total > maxTotalSize) {
      throw new BundleError("limit", `the bundle has more than ${maxTotalSize} bytes`);
    }
    if (paths.has(p)) throw new BundleError("malformed", `'${p}' is listed twice`);
    paths.add(p);
    out.push({ path: p, sha256, size });
  }
  // A path that is also another path's folder cannot be laid out.
  for (const p of paths) {
    for (let i = p.indexOf("/"); i !== -1; i = p.indexOf("/", i + 1)) {
      if (paths.has(p.slice(0, i))) {
        throw new BundleError("malformed", `'${p.slice(0, i)}' is both a file and a folder`);
      }
    }
  }
  if (typeof entry !== "string" || !paths.has(entry)) {
    throw new BundleError("malformed", "the manifest's entry is not one of its files");
  }
  return { entry, files: out };
}
