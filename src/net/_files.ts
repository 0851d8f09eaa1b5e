/**
 * File transfer between peers (`scheduler.sendFile` / `deleteFile`): the
 * sender offers a file by name, size, mtime, mode and SHA-256; the receiver
 * answers "have" when an identical file is there already, else takes it one
 * chunk at a time (each acknowledged, so a large file never fills the link's
 * queue) into a temporary file that is checked and renamed into place.
 *
 * Neither side holds more than a chunk of the file: the sender reads it
 * twice (once to hash it for the offer, once to send it, hashing again to
 * notice a file that changed meanwhile), and the receiver writes each chunk
 * to its `.part` file as it arrives, hashing as it goes, and checks the hash
 * at the end. Hashes are incremental (`node:crypto`, which needs no
 * permission), so memory does not grow with the file.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { FILE_DATA, FILE_DELETE, FILE_END, FILE_OPEN, isName } from "./_ops.ts";

/** Bytes per chunk on the wire (and the most either side reads at once). */
export const FILE_CHUNK = 1024 * 1024;

/**
 * File content held in memory by the transfers of this process, now and at
 * most (read buffers, and chunks received but not yet written), so that
 * tests can show it stays bounded by a few chunks whatever the file size.
 *
 * @example
 * ```ts ignore
 * fileBuffers.peak = 0;
 * await scheduler.sendFile(location, "big.bin");
 * console.log(fileBuffers.peak <= 2 * FILE_CHUNK);
 * ```
 */
export const fileBuffers: { now: number; peak: number } = { now: 0, peak: 0 };

function hold(n: number): void {
  fileBuffers.now += n;
  if (fileBuffers.now > fileBuffers.peak) fileBuffers.peak = fileBuffers.now;
}

function release(n: number): void {
  fileBuffers.now -= n;
}

/**
 * What a receiver tells whoever watches it (the tests): a chunk is in its
 * `.part` file, the file is in place, or a partial file was removed.
 *
 * @example
 * ```ts ignore
 * const onFile = (e: FileEvent) => { if (e.type === "written") console.log(e.part, e.received); };
 * ```
 */
export interface FileEvent {
  type: "written" | "done" | "removed";
  /** The `.part` file. */
  part: string;
  /** Where the file goes once complete. */
  target: string;
  /** Bytes written so far. */
  received: number;
}

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

function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return path.slice(i + 1);
}

/** Reads into `buffer` until it is full or the file ends; the bytes read. */
async function readFull(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let at = 0;
  while (at < buffer.length) {
    const n = await file.read(buffer.subarray(at));
    if (n === null) break;
    at += n;
  }
  return at;
}

/** The SHA-256 (hex) of the file at `path`, read a chunk at a time. */
async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(FILE_CHUNK);
  hold(buffer.length);
  try {
    for (;;) {
      const n = await readFull(file, buffer);
      if (n > 0) hash.update(buffer.subarray(0, n));
      if (n < buffer.length) return hash.digest("hex");
    }
  } finally {
    release(buffer.length);
  }
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
  const size = info.size;
  const hash = await hashFile(path);
  const open = nextReq();
  const answer = await request([
    FILE_OPEN,
    open,
    name,
    dir,
    size,
    info.mtime?.getTime() ?? null,
    info.mode ?? null,
    hash,
    options?.overwrite ?? false,
  ], opts);
  if (answer === "have") return 0;
  // One buffer for every chunk: the codec copies a chunk into its frame
  // before `request` returns, and the next is read only once it is
  // acknowledged, so the link never holds more than one either.
  const buffer = new Uint8Array(Math.min(FILE_CHUNK, Math.max(size, 1)));
  hold(buffer.length);
  try {
    using file = await Deno.open(path, { read: true });
    const again: Hash = createHash("sha256");
    let sent = 0;
    while (sent < size) {
      const n = await readFull(file, buffer.subarray(0, Math.min(buffer.length, size - sent)));
      if (n === 0) throw new Error(`sendFile: '${path}' shrank while it was sent`);
      const chunk = buffer.subarray(0, n);
      again.update(chunk);
      await request([FILE_DATA, nextReq(), open, chunk], opts);
      sent += n;
    }
    if (again.digest("hex") !== hash) {
      throw new Error(`sendFile: '${path}' changed while it was sent`);
    }
  } catch (e) {
    // Given up (a timeout, a refused chunk, a file that changed): an early
    // FILE_END makes the receiver drop its partial file and descriptor
    // instead of holding them for as long as the link lasts. Its answer is
    // nobody's.
    try {
      send([FILE_END, nextReq(), open]);
    } catch { /* the link is gone: the receiver dropped it already */ }
    throw e;
  } finally {
    release(buffer.length);
  }
  await request([FILE_END, nextReq(), open], opts);
  return size;
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

/** Who hears of a receiver's progress (`Network.onFile`, for the tests). */
export type FileListener = (event: FileEvent) => void;

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
  readonly #listen: FileListener | undefined;
  readonly #hasher: Hash = createHash("sha256");
  /** The chunk being written, if any: one at a time. */
  #writing: Promise<void> | null = null;
  #received = 0;
  #aborted = false;
  #removed = false;

  private constructor(
    file: Deno.FsFile,
    part: string,
    target: string,
    size: number,
    hash: string,
    mtime: number | null,
    mode: number | null,
    listen: FileListener | undefined,
  ) {
    this.#file = file;
    this.#part = part;
    this.#target = target;
    this.#size = size;
    this.#hash = hash;
    this.#mtime = mtime;
    this.#mode = mode;
    this.#listen = listen;
  }

  #tell(type: FileEvent["type"]): void {
    this.#listen?.({ type, part: this.#part, target: this.#target, received: this.#received });
  }

  /** Removes the partial file (once), then says so. */
  #remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    Deno.remove(this.#part).catch(() => {}).then(() => this.#tell("removed"));
  }

  /** Drops a partial file (the peer went away). */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    try {
      this.#file.close();
    } catch { /* closed already */ }
    this.#remove();
  }

  async #write(bytes: Uint8Array): Promise<void> {
    // A sender waits for each chunk's answer before the next: one that does
    // not could make us hold any number of chunks.
    if (this.#writing !== null) throw new Error("a chunk came before the last one was written");
    // And no chunk over the wire's size: what one peer can make us hold is
    // MAX_OPEN_FILES chunks, whatever the message size limit.
    if (bytes.length > FILE_CHUNK) {
      throw new RangeError(`a chunk of ${bytes.length} bytes (at most ${FILE_CHUNK})`);
    }
    if (this.#received + bytes.length > this.#size) {
      throw new RangeError("more bytes than the file's announced size");
    }
    this.#received += bytes.length;
    this.#hasher.update(bytes);
    hold(bytes.length);
    const writing = this.#writeAll(bytes);
    this.#writing = writing;
    try {
      await writing;
    } finally {
      this.#writing = null;
      release(bytes.length);
    }
    this.#tell("written");
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#file.write(bytes.subarray(at));
  }

  async #end(): Promise<void> {
    // A sender that gave up on a chunk's answer may end while it is written.
    await this.#writing?.catch(() => {});
    this.#file.close();
    this.#aborted = true;
    if (this.#received !== this.#size) throw new RangeError("file ended short of its size");
    if (this.#hasher.digest("hex") !== this.#hash) {
      throw new Error("file content does not match its SHA-256");
    }
    await Deno.rename(this.#part, this.#target);
    this.#removed = true;
    if (this.#mode !== null) await Deno.chmod(this.#target, this.#mode & 0o777).catch(() => {});
    if (this.#mtime !== null) {
      const t = new Date(this.#mtime);
      await Deno.utime(this.#target, t, t).catch(() => {});
    }
    this.#tell("done");
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
    listen?: FileListener,
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
              const same = await hashFile(target) === hash;
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
          const receiver = new FileReceiver(file, part, target, size, hash, mtime, mode, listen);
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
            r.#remove();
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
