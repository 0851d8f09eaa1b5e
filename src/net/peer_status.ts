/**
 * `PeerStatus`: the message a `peerStatus` watcher receives.
 *
 * @module
 */
import { EXT_PEER_STATUS, registerInternalClass } from "./codec.ts";
import type { PeerInfo } from "./peer_info.ts";

/**
 * Sent to the task given to `scheduler.peerStatus(task)`: once for each
 * current peer when it starts watching, then whenever a peer comes online
 * (authenticated) or is declared offline.
 *
 * @example
 * ```ts ignore
 * import { PeerStatus, Scheduler, spawn } from "@denocos/denocos";
 *
 * const watcher = spawn(async (task) => {
 *   task.setDaemon();
 *   for (;;) {
 *     const s = await task.receive<PeerStatus>();
 *     console.log(s.peer.name, s.status);
 *   }
 * });
 * Scheduler.default().peerStatus(watcher);
 * ```
 */
export class PeerStatus {
  /** The peer. */
  readonly peer: PeerInfo;
  /** `"online"` once authenticated, `"offline"` once lost or closed. */
  readonly status: "online" | "offline";

  /**
   * Creates a `PeerStatus`.
   *
   * @param peer the peer
   * @param status its new status
   */
  constructor(peer: PeerInfo, status: "online" | "offline") {
    this.peer = peer;
    this.status = status;
  }
}

function isLocation(v: unknown): v is { hostname: string; port: number } {
  return typeof v === "object" && v !== null &&
    typeof (v as { hostname?: unknown }).hostname === "string" &&
    Number.isInteger((v as { port?: unknown }).port);
}

registerInternalClass(EXT_PEER_STATUS, PeerStatus, {
  encode: (s: PeerStatus) => [s.peer.id, s.peer.name, s.peer.location, s.status],
  decode: (p: unknown) => {
    if (
      !Array.isArray(p) || p.length !== 4 || typeof p[0] !== "string" || typeof p[1] !== "string" ||
      !isLocation(p[2]) || (p[3] !== "online" && p[3] !== "offline")
    ) throw new TypeError("malformed PeerStatus");
    const location = Object.freeze({ hostname: p[2].hostname, port: p[2].port });
    return new PeerStatus(Object.freeze({ id: p[0], name: p[1], location }), p[3]);
  },
});
