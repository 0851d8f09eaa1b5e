/**
 * A deterministic clock for the heartbeat tests: time moves only when the
 * test advances it, and due timers fire in order of their deadline.
 *
 * @module
 */
import type { HeartbeatClock } from "../../src/net/_heartbeats.ts";

export class FakeClock implements HeartbeatClock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  set(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Pending timers. */
  get pending(): number {
    return this.#timers.size;
  }
  /** Moves time forward by `ms` without firing anything (the event loop was blocked), then fires what is due, late. */
  stall(ms: number): void {
    this.#now += ms;
    this.advance(0);
  }
  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
      }
      if (!first) break;
      this.#timers.delete(first[0]);
      this.#now = Math.max(this.#now, first[1].at);
      first[1].fn();
    }
    this.#now = end;
  }
}
