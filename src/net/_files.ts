/**
 * File transfer between peers (`scheduler.sendFile` / `deleteFile`): the
 * sender offers a file by name, size, mtime, mode and SHA-256; the receiver
 * answers "have" when an identical file is there already, else takes it one
 * chunk at a time (each acknowledged, so a large file never fills the link's
 * queue) into a temporary file that is checked and renamed into place.
 *
 * @module
 */
import { FILE_DATA, FILE_DELETE, FILE_END, FILE_OPEN, isName } from "./_ops.ts";

/** Bytes per chunk on the wire. */
const CHUNK = 1024 * 1024;

/**
 * Options for `scheduler.sendFile`.
 *
 * @example
 * ```ts ignore
 * await scheduler.sendFile(peer.location, "data.csv", { dir: "inputs", overwrite: true });
 * ```
 */
export interface SendFileOptions {
  /** Folder under the receiver's `destPath` (relative; must stay inside it). */
  dir?: string;
  /** Replace a different file of the same name (default `false`: refused). */
  overwrite?: boolean;
  /** Give up after this many ms (per step). */
  timeout?: number;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return path.slice(i + 1);
}

/**
 * Sends the file at `path`; resolves the bytes sent (`0` when the peer had it).
 *
 * @example
 * ```ts ignore
 * await sendFile(path, options, send, request, nextReq);
 * ```
 */
export async function sendFile(
  path: string,
  options: SendFileOptions | undefined,
  send: (m: unknown[]) => boolean,
  request: (m: unknown[], options: { timeout?: number }) => Promise<unknown>,
  nextReq: () => number,
): Promise<number> {
  const name = baseName(path);
  if (!isName(name)) throw new TypeError(`sendFile: bad file name '${name}'`);
  const dir = options?.dir ?? "";
  const opts = { timeout: options?.timeout };
  const info = await Deno.stat(path);
  if (!info.isFile) throw new TypeError(`sendFile: '${path}' is not a file`);
  const bytes = await Deno.readFile(path);
  const hash = await sha256Hex(bytes);
  const open = nextReq();
  const answer = await request([
    FILE_OPEN,
    open,
    name,
    dir,
    bytes.length,
    info.mtime?.getTime() ?? null,
    info.mode ?? null,
    hash,
    options?.overwrite ?? false,
  ], opts);
  if (answer === "have") return 0;
  try {
    for (let at = 0; at < bytes.length; at += CHUNK) {
      await request([FILE_DATA, nextReq(), open, bytes.subarray(at, at + CHUNK)], opts);
    }
  } catch (e) {
    // Given up (a timeout, a refused chunk): an early FILE_END makes the
    // receiver drop its partial file and descriptor instead of holding them
    // for as long as the link lasts. Its answer is nobody's.
    try {
      send([FILE_END, nextReq(), open]);
    } catch { /* the link is gone: the receiver dropped it already */ }
    throw e;
  }
  await request([FILE_END, nextReq(), open], opts);
  return bytes.length;
}

/** Joins `dest`, `dir` and `name`, refusing anything that leaves `dest`. */
function inside(dest: string, dir: string, name: string): string {
  if (!isName(name) || name === "." || name === ".." || /[/\\\0]/.test(name)) {
    throw new TypeError(`bad file name '${name}'`);
  }
  const parts: string[] = [];
  for (const part of dir.split(/[/\\]+/)) {
    if (part === "" || part === ".") continue;
    if (part === ".." || part.includes("\0")) {
      throw new TypeError(`'dir' must stay inside the destination folder, got '${dir}'`);
    }
    parts.push(part);
  }
  if (dir.startsWith("/") || /^[a-zA-Z]:/.test(dir)) {
    throw new TypeError(`'dir' must be relative, got '${dir}'`);
  }
  return [dest, ...parts, name].join("/");
}

/** How many files one peer may be sending at once (each holds a descriptor). */
export const MAX_OPEN_FILES = 64;

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * Refuses a target whose folder resolves outside `root` through a symlink:
 * checks the deepest folder of `target` that exists, so that `mkdir` never
 * follows a link out of the destination.
 */
async function staysInside(root: string, target: string): Promise<void> {
  const real = await Deno.realPath(root);
  for (let dir = parentOf(target); dir.length >= root.length; dir = parentOf(dir)) {
    let at: string;
    try {
      at = await Deno.realPath(dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    if (at !== real && !at.startsWith(`${real}/`)) {
      throw new TypeError("'dir' must stay inside the destination folder (it leads out by a link)");
    }
    return;
  }
}

/**
 * One file being received from a peer.
 *
 * @example
 * ```ts ignore
 * FileReceiver.handle(dest, files, message, reply, fail);
 * ```
 */
export class FileReceiver {
  readonly #file: Deno.FsFile;
  readonly #part: string;
  readonly #target: string;
  readonly #size: number;
  readonly #hash: string;
  readonly #mtime: number | null;
  readonly #mode: number | null;
  #chunks: Uint8Array[] = [];
  #received = 0;
  #aborted = false;

  private constructor(
    file: Deno.FsFile,
    part: string,
    target: string,
    size: number,
    hash: string,
    mtime: number | null,
    mode: number | null,
  ) {
    this.#file = file;
    this.#part = part;
    this.#target = target;
    this.#size = size;
    this.#hash = hash;
    this.#mtime = mtime;
    this.#mode = mode;
  }

  /** Drops a partial file (the peer went away). */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    try {
      this.#file.close();
    } catch { /* closed already */ }
    Deno.remove(this.#part).catch(() => {});
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#received + bytes.length > this.#size) {
      throw new RangeError("more bytes than the file's announced size");
    }
    this.#received += bytes.length;
    this.#chunks.push(bytes.slice());
    let at = 0;
    while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
  }

  async #end(): Promise<void> {
    this.#file.close();
    this.#aborted = true;
    if (this.#received !== this.#size) throw new RangeError("file ended short of its size");
    const all = new Uint8Array(this.#received);
    let at = 0;
    for (const c of this.#chunks) {
      all.set(c, at);
      at += c.length;
    }
    this.#chunks = [];
    if (await sha256Hex(all) !== this.#hash) {
      throw new Error("file content does not match its SHA-256");
    }
    await Deno.rename(this.#part, this.#target);
    if (this.#mode !== null) await Deno.chmod(this.#target, this.#mode & 0o777).catch(() => {});
    if (this.#mtime !== null) {
      const t = new Date(this.#mtime);
      await Deno.utime(this.#target, t, t).catch(() => {});
    }
  }

  /**
   * Handles one file operation from a peer; answers through `reply` / `fail`.
   *
   * @example
   * ```ts ignore
   * FileReceiver.handle(dest, files, m, reply, fail);
   * ```
   */
  static handle(
    dest: () => Promise<string>,
    files: Map<number, FileReceiver>,
    m: unknown[],
    reply: (req: number, value: unknown) => void,
    fail: (req: number, error: unknown) => void,
    alive: () => boolean = () => true,
  ): void {
    const req = m[1] as number;
    const run = async (): Promise<unknown> => {
      switch (m[0]) {
        case FILE_OPEN: {
          const [, , name, dir, size, mtime, mode, hash, overwrite] = m as [
            number,
            number,
            string,
            string,
            number,
            number | null,
            number | null,
            string,
            boolean,
          ];
          if (files.has(req)) throw new Error(`file transfer ${req} is open already`);
          if (files.size >= MAX_OPEN_FILES) {
            throw new RangeError(`more than ${MAX_OPEN_FILES} files in transfer at once`);
          }
          const root = await dest();
          const target = inside(root, dir, name);
          await staysInside(root, target);
          // lstat: a symlink there is replaced, never read or followed.
          const existing = await Deno.lstat(target).catch(() => null);
          if (existing !== null) {
            if (existing.isFile && existing.size === size) {
              const same = await sha256Hex(await Deno.readFile(target)) === hash;
              if (same) return "have";
            }
            if (!overwrite) throw new Deno.errors.AlreadyExists(`'${name}' exists already`);
          }
          await Deno.mkdir(parentOf(target), { recursive: true });
          await staysInside(root, target);
          // Random: request numbers are per peer, and two peers may send
          // one name at once; each must write a file of its own.
          const tag = Array.from(
            crypto.getRandomValues(new Uint8Array(6)),
            (b) => b.toString(16).padStart(2, "0"),
          ).join("");
          const part = `${target}.part-${tag}`;
          const file = await Deno.open(part, { write: true, create: true, truncate: true });
          const receiver = new FileReceiver(file, part, target, size, hash, mtime, mode);
          // The peer may have gone (or opened too many) while this one opened.
          if (!alive() || files.size >= MAX_OPEN_FILES || files.has(req)) {
            receiver.abort();
            throw new RangeError("file transfer abandoned");
          }
          files.set(req, receiver);
          return "send";
        }
        case FILE_DATA: {
          const r = files.get(m[2] as number);
          if (r === undefined) throw new Error("no such file transfer");
          try {
            await r.#write(m[3] as Uint8Array);
          } catch (e) {
            files.delete(m[2] as number);
            r.abort();
            throw e;
          }
          return true;
        }
        case FILE_END: {
          const r = files.get(m[2] as number);
          if (r === undefined) throw new Error("no such file transfer");
          files.delete(m[2] as number);
          try {
            await r.#end();
          } catch (e) {
            Deno.remove(r.#part).catch(() => {});
            throw e;
          }
          return true;
        }
        case FILE_DELETE: {
          const root = await dest();
          const target = inside(root, m[3] as string, m[2] as string);
          await staysInside(root, target);
          return await Deno.remove(target).then(() => true, () => false);
        }
      }
      throw new Error("not a file operation");
    };
    run().then((v) => reply(req, v), (e) => fail(req, e));
  }
}
