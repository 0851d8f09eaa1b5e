/**
 * `PeerInfo`: who a connected peer is.
 *
 * @module
 */
import type { Location } from "../core/location.ts";

/**
 * A peer this scheduler is (or was) linked to. `id` is new every time the
 * peer's network starts, so a restarted peer at the same address is a new peer.
 *
 * @example
 * ```ts ignore
 * import { Scheduler } from "@denocos/denocos";
 *
 * const info = await Scheduler.default().peer({ hostname: "127.0.0.1", port: 9705 });
 * console.log(info.name, `${info.location.hostname}:${info.location.port}`);
 * ```
 */
export interface PeerInfo {
  /** Unique per start of the peer's network (random, 16 hex digits). */
  readonly id: string;
  /** The name the peer gave itself in `listen` (default: `host:port`). */
  readonly name: string;
  /** Where the peer listens. */
  readonly location: Location;
}
