/**
 * Liveness of one link: send a `HEARTBEAT` when the link has written nothing
 * for `interval`, and declare the peer dead when nothing has been received
 * for `timeout`.
 *
 * It watches the link's frame counters from one timer instead of being told
 * about every frame, so the hot path pays nothing: the link just counts.
 * The timer ticks every `interval / 2`; a counter that moved since the last
 * tick is stamped with that tick's time. So the silence measured is never
 * longer than the real one, a heartbeat goes out at most `1.5 × interval`
 * after the last write, and a dead peer is declared less than
 * `timeout + interval` after the last frame it sent.
 *
 * A tick that comes much later than planned means this process stalled (a
 * long synchronous task, a suspended laptop), not that the peer went
 * quiet: frames may be waiting in the event loop behind the tick. Such a
 * tick renews the stamps instead of judging, so a stall alone never kills a
 * link.
 *
 * @module
 */

/** The timer the heartbeats run on (real by default, fake in tests). */
export interface HeartbeatClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a handle for `clear`. */
  set(fn: () => void, ms: number): unknown;
  /** Cancels a pending call. */
  clear(handle: unknown): void;
}

/** What the heartbeats watch and act on: one link's connection. */
export interface HeartbeatTarget {
  /** Frames written so far (any kind); only its changes matter. */
  readonly framesWritten: number;
  /** Frames received so far (any kind); only its changes matter. */
  readonly framesReceived: number;
  /** Queue one `HEARTBEAT` frame (counts as a write). */
  sendHeartbeat(): void;
  /** The peer has been silent for `silence` ms; called once, then stopped. */
  dead(silence: number): void;
}

/** Options of {@linkcode Heartbeats}. */
export interface HeartbeatOptions {
  /** Send a heartbeat after this long without a write, in ms. */
  interval: number;
  /** Declare the peer dead after this long without a frame, in ms. */
  timeout: number;
  /** The timer; defaults to `performance.now` and `setTimeout`. */
  clock?: HeartbeatClock;
}

/** The real clock: monotonic time, `setTimeout`. */
export const realClock: HeartbeatClock = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A tick this much later than planned (in periods) is a stall, not silence. */
const STALL = 3;

/**
 * Heartbeats and silence detection for one connection. Start it once the
 * connection is authenticated, stop it when the connection goes.
 *
 * @example
 * ```ts ignore
 * const hb = new Heartbeats(conn, { interval: 500, timeout: 2500 });
 * hb.start();
 * // ... conn.dead() is called after 2.5 s of silence
 * hb.stop();
 * ```
 */
export class Heartbeats {
  readonly #target: HeartbeatTarget;
  readonly #clock: HeartbeatClock;
  readonly #interval: number;
  readonly #timeout: number;
  readonly #period: number;
  readonly #tick = () => this.#onTick();
  #timer: unknown = undefined;
  #running = false;
  #lastTick = 0;
  #written = 0;
  #writtenAt = 0;
  #received = 0;
  #receivedAt = 0;

  /**
   * Makes the heartbeats of one connection; nothing happens until `start`.
   *
   * @param target the connection's counters and actions
   * @param options interval, timeout, clock
   */
  constructor(target: HeartbeatTarget, options: HeartbeatOptions) {
    const { interval, timeout } = options;
    if (!(interval > 0) || !(timeout > 0)) {
      throw new RangeError(`heartbeat interval and timeout must be > 0 ms`);
    }
    this.#target = target;
    this.#clock = options.clock ?? realClock;
    this.#interval = interval;
    this.#timeout = timeout;
    this.#period = Math.max(1, interval / 2);
  }

  /** Whether it is running. */
  get running(): boolean {
    return this.#running;
  }

  /** Starts watching; the silence is counted from now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const now = this.#clock.now();
    this.#renew(now);
    this.#timer = this.#clock.set(this.#tick, this.#period);
  }

  /** Stops watching; idempotent. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#clock.clear(this.#timer);
    this.#timer = undefined;
  }

  #renew(now: number): void {
    const t = this.#target;
    this.#lastTick = now;
    this.#written = t.framesWritten;
    this.#writtenAt = now;
    this.#received = t.framesReceived;
    this.#receivedAt = now;
  }

  #onTick(): void {
    if (!this.#running) return;
    const t = this.#target;
    const now = this.#clock.now();
    if (now - this.#lastTick > STALL * this.#period) {
      this.#renew(now);
    } else {
      this.#lastTick = now;
      const received = t.framesReceived;
      if (received !== this.#received) {
        this.#received = received;
        this.#receivedAt = now;
      } else if (now - this.#receivedAt >= this.#timeout) {
        this.stop();
        t.dead(now - this.#receivedAt);
        return;
      }
      const written = t.framesWritten;
      if (written !== this.#written) {
        this.#written = written;
        this.#writtenAt = now;
      } else if (now - this.#writtenAt >= this.#interval) {
        t.sendHeartbeat();
        this.#written = t.framesWritten;
        this.#writtenAt = now;
      }
    }
    this.#timer = this.#clock.set(this.#tick, this.#period);
  }
}
