/**
 * The API layer's wire messages: one MessagePack array per message, its
 * first element the operation. Every message from a peer is checked here
 * before anything acts on it; a malformed one fails that peer's link only.
 *
 * @module
 */

/** Fire-and-forget message to a task: `[SEND, taskId, incarnation, message]`. */
export const SEND = 1;
/** The task a message was meant for has ended: `[ENDED, taskId, incarnation]`. */
export const ENDED = 2;
/** `[DELIVER, req, taskId, incarnation, message]` → `REPLY` 1 or 0. */
export const DELIVER = 3;
/** `[REPLY, req, value]`. */
export const REPLY = 4;
/** `[FAIL, req, error]`. */
export const FAIL = 5;
/** `[LOCATE, req, kind, name]` → `REPLY` reference or `null`. */
export const LOCATE = 6;
/** `[MONITOR, taskId, incarnation, watcher]`. */
export const MONITOR = 7;
/** `[TERMINATE, taskId, incarnation]`. */
export const TERMINATE = 8;
/** `[THROW, taskId, incarnation, error]`. */
export const THROW = 9;
/** `[FINISH, req, taskId, incarnation]` → `REPLY` value or `FAIL` error. */
export const FINISH = 10;
/** `[STATUS, watcherId, watcherIncarnation, monitorStatus]`. */
export const STATUS = 11;
/** `[CH_SEND, name, message, hops]`. */
export const CH_SEND = 12;
/** `[CH_DELIVER, req, name, message, n, timeout, hops]` → `REPLY` count. */
export const CH_DELIVER = 13;
/** `[CH_SUB, req, name, subscriber]` → `REPLY` true. */
export const CH_SUB = 14;
/** `[CH_UNSUB, req, name, subscriber]` → `REPLY` boolean. */
export const CH_UNSUB = 15;
/** `[SVC_RUN, req, name, args]` → `REPLY` task reference. */
export const SVC_RUN = 16;
/** `[FILE_OPEN, req, name, dir, size, mtime, mode, sha256, overwrite]` → `REPLY` "send" | "have". */
export const FILE_OPEN = 17;
/** `[FILE_DATA, req, fileReq, bytes]` → `REPLY` true once written (one chunk at a time). */
export const FILE_DATA = 18;
/** `[FILE_END, req, fileReq]` → `REPLY` true once checked and in place. */
export const FILE_END = 19;
/** `[FILE_DELETE, req, name, dir]` → `REPLY` boolean. */
export const FILE_DELETE = 20;

/** `[PEERS, [[id, hostname, port], …]]`: the peers the sender is linked to (at most 1,024). */
export const PEERS = 21;

/** What `LOCATE` looks for. */
export const KIND_TASK = 0, KIND_CHANNEL = 1, KIND_SERVICE = 2;

const LONGEST = 256;

/** Whether `v` is a non-negative safe integer. */
export function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Whether `v` is a usable name: a non-empty string of at most 256 characters. */
export function isName(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= LONGEST;
}

/**
 * Why the decoded message `m` is malformed, or `undefined` when its shape
 * fits its operation (the values inside `message` fields are the
 * receiver's to judge).
 *
 * @example
 * ```ts ignore
 * const why = malformed(decoded);
 * if (why !== undefined) link.close();
 * ```
 */
export function malformed(m: unknown): string | undefined {
  if (!Array.isArray(m) || m.length === 0) return "not an operation array";
  const op = m[0];
  switch (op) {
    case SEND:
      return m.length === 4 && isId(m[1]) && isId(m[2]) ? undefined : "bad SEND";
    case ENDED:
    case TERMINATE:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "bad task operation";
    case THROW:
      return m.length === 4 && isId(m[1]) && isId(m[2]) ? undefined : "bad THROW";
    case DELIVER:
      return m.length === 5 && isId(m[1]) && isId(m[2]) && isId(m[3]) ? undefined : "bad DELIVER";
    case REPLY:
    case FAIL:
      return m.length === 3 && isId(m[1]) ? undefined : "bad reply";
    case LOCATE:
      return m.length === 4 && isId(m[1]) && (m[2] === KIND_TASK || m[2] === KIND_CHANNEL ||
          m[2] === KIND_SERVICE) &&
          isName(m[3])
        ? undefined
        : "bad LOCATE";
    case MONITOR:
    case STATUS:
      return m.length === 4 && isId(m[1]) && isId(m[2]) ? undefined : "bad monitor operation";
    case FINISH:
      return m.length === 4 && isId(m[1]) && isId(m[2]) && isId(m[3]) ? undefined : "bad FINISH";
    case CH_SEND:
      return m.length === 4 && isName(m[1]) && isId(m[3]) ? undefined : "bad CH_SEND";
    case CH_DELIVER:
      return m.length === 7 && isId(m[1]) && isName(m[2]) && isId(m[4]) &&
          (m[5] === null || (typeof m[5] === "number" && m[5] >= 0)) && isId(m[6])
        ? undefined
        : "bad CH_DELIVER";
    case CH_SUB:
    case CH_UNSUB:
      return m.length === 4 && isId(m[1]) && isName(m[2]) ? undefined : "bad subscription";
    case SVC_RUN:
      return m.length === 4 && isId(m[1]) && isName(m[2]) && Array.isArray(m[3])
        ? undefined
        : "bad SVC_RUN";
    case FILE_OPEN:
      return m.length === 9 && isId(m[1]) && isName(m[2]) && typeof m[3] === "string" &&
          m[3].length <= 4096 && isId(m[4]) && (m[5] === null || typeof m[5] === "number") &&
          (m[6] === null || isId(m[6])) && typeof m[7] === "string" && m[7].length === 64 &&
          typeof m[8] === "boolean"
        ? undefined
        : "bad FILE_OPEN";
    case FILE_DATA:
      return m.length === 4 && isId(m[1]) && isId(m[2]) && m[3] instanceof Uint8Array
        ? undefined
        : "bad FILE_DATA";
    case FILE_END:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "bad FILE_END";
    case FILE_DELETE:
      return m.length === 4 && isId(m[1]) && isName(m[2]) && typeof m[3] === "string" &&
          m[3].length <= 4096
        ? undefined
        : "bad FILE_DELETE";
    case PEERS:
      return m.length === 2 && Array.isArray(m[1]) && m[1].length <= 1024 &&
          m[1].every((p) =>
            Array.isArray(p) && p.length === 3 && isName(p[0]) && isName(p[1]) &&
            Number.isInteger(p[2]) && p[2] > 0 && p[2] < 65536
          )
        ? undefined
        : "bad PEERS";
    default:
      return `unknown operation ${typeof op === "number" ? op : typeof op}`;
  }
}
