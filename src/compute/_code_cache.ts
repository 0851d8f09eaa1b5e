/**
 * Code shipping, node side: a content-addressed store of the files
 * computations ship (SHA-256 → bytes, in a folder on disk), and the layout
 * of one computation's bundle in a folder of its own, from which a Worker
 * with read permission on that folder only imports the entry module.
 *
 * Layout of the store folder:
 *
 * ```
 * <dir>/objects/<sha256>    one file per content, read-only (0444)
 * <dir>/tmp/                writes in progress (temp + rename)
 * ```
 *
 * `put` checks the bytes against their hash before anything is kept, writes
 * them to a temp file and renames it into place, so a crash leaves either
 * the whole file or none (a stray temp file at worst), and two puts of the
 * same content race harmlessly. `missing(manifest)` tells the client which
 * files to send, so a node never receives a file it has.
 *
 * `materialize` lays a bundle out by hard links into a fresh folder
 * (falling back to copies across file systems or where links are refused).
 * Hard links, not symlinks: Deno checks a Worker's read permission on the
 * path it opens, and a hard link is a real entry inside the granted folder
 * whose content cannot be changed through another name, since store objects
 * are read-only. Never grant a Worker write access to a materialized folder
 * (or use `link: false` if one must): a writable link would let it
 * `chmod` and change the shared store object.
 *
 * Every manifest is validated first (`validateManifest`: safe relative
 * paths, hashes, sizes, limits), and every path is checked again to lie
 * inside the target folder after joining.
 *
 * No eviction: the store only grows, by at most one copy of each distinct
 * content. An operator who wants the space back removes the folder while the
 * node is stopped; a later version may evict by last use.
 *
 * @module
 */
import * as nodePath from "node:path";
import { pathToFileURL } from "node:url";
import {
  BundleError,
  type BundleLimits,
  isSha256,
  resolveLimits,
  sha256Hex,
  validateManifest,
} from "./_bundle_manifest.ts";

/** Options for `CodeCache.open`. */
export interface CodeCacheOptions extends BundleLimits {
  /** Lay bundles out with hard links where possible (default `true`); `false` copies. */
  link?: boolean;
}

/** Where `materialize` put a bundle. */
export interface Materialized {
  /** The folder holding the bundle's files (grant a Worker read on it). */
  readonly dir: string;
  /** The entry module's `file:` URL, to `import()`. */
  readonly entry: URL;
}

/**
 * A node's content-addressed code store. Needs `--allow-read` and
 * `--allow-write` for its folder and for the folders bundles are laid out in.
 */
export class CodeCache {
  /** The store's folder. */
  readonly dir: string;
  readonly #objects: string;
  readonly #tmp: string;
  readonly #limits: Required<BundleLimits>;
  readonly #link: boolean;

  private constructor(dir: string, options?: CodeCacheOptions) {
    this.dir = dir;
    this.#objects = nodePath.join(dir, "objects");
    this.#tmp = nodePath.join(dir, "tmp");
    this.#limits = resolveLimits(options);
    this.#link = options?.link ?? true;
  }

  /**
   * Opens (creating if needed) the store in `dir`.
   *
   * @param dir the store's folder
   * @param options limits, links or copies
   * @returns the store
   */
  static async open(dir: string, options?: CodeCacheOptions): Promise<CodeCache> {
    const abs = nodePath.resolve(dir);
    await Deno.mkdir(nodePath.join(abs, "objects"), { recursive: true });
    await Deno.mkdir(nodePath.join(abs, "tmp"), { recursive: true });
    return new CodeCache(abs, options);
  }

  /**
   * Whether the store holds the content with this hash (`false` for
   * anything that is not a well-formed SHA-256).
   *
   * @param sha256 64 lowercase hex digits
   * @returns whether it is stored
   */
  async has(sha256: string): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    try {
      return (await Deno.lstat(nodePath.join(this.#objects, sha256))).isFile;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  }

  /**
   * Stores `bytes` under `sha256` after checking that they hash to it:
   * rejects with `BundleError` `"malformed"` for a malformed hash, `"limit"`
   * for more than `maxFileSize` bytes, `"hash"` when the bytes do not match.
   * Storing content already there is a no-op.
   *
   * @param sha256 the hash the bytes were sent under
   * @param bytes the content
   */
  async put(sha256: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
    if (!isSha256(sha256)) throw new BundleError("malformed", "not a sha256");
    if (bytes.length > this.#limits.maxFileSize) {
      throw new BundleError(
        "limit",
        `${bytes.length} bytes, more than ${this.#limits.maxFileSize}`,
      );
    }
    if (await sha256Hex(bytes) !== sha256) {
      throw new BundleError("hash", `the bytes do not match sha256 ${sha256}`);
    }
    if (await this.has(sha256)) return;
    const tmp = nodePath.join(this.#tmp, `${sha256}.${crypto.randomUUID()}`);
    let renamed = false;
    try {
      await Deno.writeFile(tmp, bytes, { createNew: true, mode: 0o444 });
      // The mode given to writeFile is filtered by the umask; make sure.
      await Deno.chmod(tmp, 0o444);
      await Deno.rename(tmp, nodePath.join(this.#objects, sha256));
      renamed = true;
    } finally {
      if (!renamed) await Deno.remove(tmp).catch(() => {});
    }
  }

  /**
   * The hashes of `manifest`'s files the store lacks, each once, in
   * manifest order: what the client still has to send. Validates the
   * manifest first (rejects with `BundleError`).
   *
   * @param manifest an untrusted manifest
   * @returns the missing hashes
   */
  async missing(manifest: unknown): Promise<string[]> {
    const m = validateManifest(manifest, this.#limits);
    const out: string[] = [];
    const asked = new Set<string>();
    for (const f of m.files) {
      if (asked.has(f.sha256)) continue;
      asked.add(f.sha256);
      if (!(await this.has(f.sha256))) out.push(f.sha256);
    }
    return out;
  }

  /**
   * Lays `manifest`'s files out under `dir` by their relative paths, from
   * the store. `dir` must not exist yet (its parent must): a computation
   * gets a fresh folder, so nothing planted there before (a symlink, an old
   * file) can be picked up. Rejects with `BundleError` `"missing"` listing
   * the hashes not stored yet, or any reason of `validateManifest`; on
   * failure the partial folder is removed.
   *
   * @param manifest an untrusted manifest
   * @param dir the computation's new folder
   * @returns the folder and the entry module's URL
   */
  async materialize(manifest: unknown, dir: string): Promise<Materialized> {
    const m = validateManifest(manifest, this.#limits);
    const lacking = await this.missing(m);
    if (lacking.length > 0) {
      throw new BundleError("missing", "files not in the code cache", lacking);
    }
    const root = nodePath.resolve(dir);
    await Deno.mkdir(root); // not recursive: refuses an existing folder
    try {
      const made = new Set<string>([root]);
      for (const f of m.files) {
        const target = nodePath.join(root, ...f.path.split("/"));
        const rel = nodePath.relative(root, target);
        if (rel.startsWith("..") || nodePath.isAbsolute(rel)) {
          throw new BundleError("path", "unsafe bundle path", [f.path]);
        }
        const parent = nodePath.dirname(target);
        if (!made.has(parent)) {
          await Deno.mkdir(parent, { recursive: true });
          made.add(parent);
        }
        const object = nodePath.join(this.#objects, f.sha256);
        const info = await Deno.lstat(object);
        if (info.size !== f.size) {
          throw new BundleError(
            "hash",
            `'${f.path}' is listed with ${f.size} bytes, its content has ${info.size}`,
          );
        }
        await this.#place(object, target);
      }
    } catch (e) {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      throw e;
    }
    return { dir: root, entry: pathToFileURL(nodePath.join(root, ...m.entry.split("/"))) };
  }

  async #place(object: string, target: string): Promise<void> {
    if (this.#link) {
      try {
        await Deno.link(object, target);
        return;
      } catch (e) {
        // Another file system, or links refused: copy instead.
        if (e instanceof Deno.errors.AlreadyExists) throw e;
      }
    }
    await Deno.copyFile(object, target);
    await Deno.chmod(target, 0o444);
  }
}
