/**
 * `Service`: a task function a peer offers for others to start there.
 *
 * @module
 */
import type { Location } from "../core/_internal.ts";
import type { WaitOptions } from "../core/_internal.ts";
import { Scheduler as CoreScheduler } from "../core/_internal.ts";
import type { Task, TaskFunction } from "../core/_internal.ts";
import type { PeerInfo } from "./peer_info.ts";
import type { RemoteOps } from "./_remote_ops.ts";
import type { RemoteTask } from "./remote_task.ts";

/**
 * Options for `Service.locate`.
 *
 * @example
 * ```ts ignore
 * const svc = await Service.locate("pico", { timeout: 5000 });
 * ```
 */
export interface ServiceLocateOptions {
  /** The scheduler to search from (default: the default scheduler). */
  scheduler?: CoreScheduler;
  /** Ask only this peer. */
  location?: Location | null;
  /** How long to search, in milliseconds. */
  timeout?: number;
}

/**
 * A registered service (pycos's RPS / RTI): `scheduler.registerService(name,
 * fn)` on one peer, `Service.locate(name)` and `svc.run(...args)` on another
 * start `fn(task, ...args)` there and hand back its `RemoteTask`. No code
 * travels: the function exists on the serving peer.
 *
 * @example
 * ```ts ignore
 * import { Service } from "@denocos/denocos";
 *
 * const svc = await Service.locate("pico", { timeout: 5000 });
 * const job = await svc!.run(3, 4);
 * console.log(await job.finish());
 * ```
 */
export class Service {
  /** The service's name. */
  readonly name: string;
  /** The peer offering it, or `null` when it is registered here. */
  readonly peer: PeerInfo | null;
  readonly #ops: RemoteOps | null;
  readonly #scheduler: CoreScheduler;
  readonly #fn: TaskFunction | null;

  /** @internal made by `Service.locate` */
  constructor(
    name: string,
    scheduler: CoreScheduler,
    remote: { ops: RemoteOps; peer: PeerInfo } | { fn: TaskFunction },
  ) {
    this.name = name;
    this.#scheduler = scheduler;
    if ("fn" in remote) {
      this.peer = null;
      this.#ops = null;
      this.#fn = remote.fn;
    } else {
      this.peer = remote.peer;
      this.#ops = remote.ops;
      this.#fn = null;
    }
  }

  /** Where the service runs (`null`: this scheduler before it listens). */
  get location(): Location | null {
    return this.peer?.location ?? this.#scheduler.location;
  }

  /**
   * Starts the service's function with `args` on its peer and resolves the
   * task it runs as (a local `Task` for a service registered here).
   * Rejects with `PeerLost` if the peer goes first, `TimeoutError` on timeout.
   */
  run(...args: unknown[]): Promise<Task | RemoteTask> {
    return this.runWith(args);
  }

  /** `run` with options: `svc.runWith([a, b], { timeout: 1000 })`. */
  runWith(args: unknown[], options?: WaitOptions): Promise<Task | RemoteTask> {
    if (this.#fn !== null) {
      try {
        return Promise.resolve(this.#scheduler.spawn(this.#fn, ...args));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.#ops!.runService(this.peer!.id, this.name, args, options);
  }

  /**
   * Finds a service by name: registered on the scheduler itself, else on
   * its peers (the first positive answer wins).
   */
  static locate(name: string, options?: ServiceLocateOptions): Promise<Service | undefined> {
    const s = options?.scheduler ?? CoreScheduler.default();
    const locate = (s as { locateService?: Scheduler["locateService"] }).locateService;
    if (locate === undefined) return Promise.resolve(undefined);
    return locate.call(s, name, options);
  }
}

interface Scheduler {
  locateService(name: string, options?: ServiceLocateOptions): Promise<Service | undefined>;
}
