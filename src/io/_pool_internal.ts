/**
 * Internal: hooks of `AsyncThreadPool` for tests, kept off its public
 * options type.
 *
 * @module
 */

/**
 * An `AsyncThreadPool` option under this key replaces the Worker script
 * (tests use it to run the real script under a subverted prelude, to see
 * what the pool does when a Worker breaks the protocol).
 */
export const workerScript: unique symbol = Symbol("denocos.pool.workerScript");
