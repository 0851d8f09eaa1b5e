/**
 * `PeerStatus`: the message a `peerStatus` watcher receives.
 *
 * @module
 */
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
