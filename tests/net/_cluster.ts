/**
 * Several networked schedulers in one process on a `SimulatedNetwork`, for
 * the API tests: fast, and deterministic for a seed.
 *
 * @module
 */
import { type PeerListenOptions, Scheduler, type Task } from "../../mod.ts";
import { SimulatedNetwork } from "../../src/net/testing.ts";

/** Short liveness settings so that loss tests end quickly. */
export const FAST = { heartbeatInterval: 50, peerTimeout: 300 } as const;

/** A set of peers on one simulated network; `await using` finishes them all. */
export class Cluster implements AsyncDisposable {
  readonly net: SimulatedNetwork;
  readonly peers: Scheduler[] = [];

  constructor(seed = 1) {
    this.net = new SimulatedNetwork({ seed });
  }

  /** Starts one more peer on its own simulated host. */
  async add(options?: PeerListenOptions & { host?: string }): Promise<Scheduler> {
    const s = new Scheduler();
    await s.listen({
      secret: "s3cret",
      port: 9705,
      discover: false,
      ...FAST,
      ...options,
      transport: this.net.transport(options?.host),
    });
    this.peers.push(s);
    return s;
  }

  /** `n` peers, each linked to the first. */
  async star(n: number, options?: PeerListenOptions): Promise<Scheduler[]> {
    const hub = await this.add(options);
    const out = [hub];
    for (let i = 1; i < n; i++) {
      const s = await this.add(options);
      await s.peer({ hostname: hub.location!.hostname, port: hub.location!.port });
      out.push(s);
    }
    return out;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.peers.map((s) => s.finish()));
  }
}

/** Waits until `task` receives a message that `match` accepts; fails after `ms`. */
export async function receiveMatching<T>(
  task: Task,
  match: (m: unknown) => m is T,
  ms = 10_000,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error("timed out waiting for a message");
    const timedOut = {};
    const m = await task.receive({ timeout: left, alarmValue: timedOut });
    if (m === timedOut) throw new Error("timed out waiting for a message");
    if (match(m)) return m;
  }
}
