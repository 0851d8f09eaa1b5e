/**
 * `ServerFailed`: the error of a job whose server failed. It travels to
 * clients as itself (registered with the codec in `_wire.ts`).
 *
 * @module
 */

/**
 * A job lost because its server failed or exited, or the server could not
 * start. A client's `job.finish()` rejects with it across the network.
 *
 * @example
 * ```ts
 * import { ServerFailed } from "@denocos/denocos/compute";
 *
 * const e = new ServerFailed("server 4242: out of memory");
 * console.log(e instanceof ServerFailed, e.name); // true "ServerFailed"
 * ```
 */
export class ServerFailed extends Error {
  /**
   * Creates a `ServerFailed`.
   *
   * @param message what happened to the server
   */
  constructor(message: string) {
    super(message);
    this.name = "ServerFailed";
  }
}
