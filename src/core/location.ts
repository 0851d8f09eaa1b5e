/**
 * Where a scheduler (a peer) can be reached.
 *
 * @module
 */

/**
 * The address of a peer. `null` stands for "this process, not networked".
 *
 * @example
 * ```ts
 * import type { Location } from "@denocos/denocos";
 *
 * const here: Location = { hostname: "127.0.0.1", port: 9705 };
 * console.log(`${here.hostname}:${here.port}`);
 * ```
 */
export interface Location {
  /** The peer's IP address or host name. */
  readonly hostname: string;
  /** The peer's TCP port. */
  readonly port: number;
}
