/**
 * Samples a node's availability (CPU, memory, load) for the pulses a node
 * sends to its computations.
 *
 * Reading the load average and the memory figures needs
 * `--allow-sys=loadavg,systemMemoryInfo` (Deno 2.9's names for those two
 * `sys` kinds). Without it the sampler does not fail: the fields it cannot
 * read are `null`, and it logs one warning per missing kind (category
 * `["denocos", "compute", "availability"]`), never one per pulse. The core
 * count comes from `navigator.hardwareConcurrency`, which needs nothing.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Location } from "../core/location.ts";
import { NodeAvailability } from "./status_message.ts";

const logger = getLogger(["denocos", "compute", "availability"]);

/**
 * Where the sampler reads from; `Deno` and `navigator` by default, a fake in
 * tests. Each function may throw (a missing permission): the sampler
 * catches it.
 */
export interface AvailabilitySource {
  /** The 1, 5 and 15 minute load averages (`Deno.loadavg()`). */
  loadavg(): number[];
  /** Total and available memory in bytes (`Deno.systemMemoryInfo()`). */
  systemMemoryInfo(): { total: number; available: number };
  /** The number of logical cores (`navigator.hardwareConcurrency`). */
  cores(): number;
}

/** The real source: `Deno.loadavg`, `Deno.systemMemoryInfo`, `navigator.hardwareConcurrency`. */
export const denoAvailabilitySource: AvailabilitySource = {
  loadavg: () => Deno.loadavg(),
  systemMemoryInfo: () => Deno.systemMemoryInfo(),
  cores: () => navigator.hardwareConcurrency,
};

/** Options for `AvailabilitySampler`. */
export interface AvailabilitySamplerOptions {
  /** Where to read from (default: `denoAvailabilitySource`). */
  source?: AvailabilitySource;
}

/**
 * Takes `NodeAvailability` samples of this machine for a node.
 *
 * `cpu` is `min(1, load1 / cores)`: the load average counts runnable (and,
 * on Linux, uninterruptible) tasks, so load equal to the core count means
 * the CPU is saturated. It is an estimate that lags by about a minute, which
 * is what a placement hint needs; it is not a utilisation measurement.
 */
export class AvailabilitySampler {
  readonly #source: AvailabilitySource;
  /** Which kinds already logged their failure (log once, not every pulse). */
  #warned = new Set<string>();

  /**
   * Creates a sampler.
   *
   * @param options the source to read from
   */
  constructor(options?: AvailabilitySamplerOptions) {
    this.#source = options?.source ?? denoAvailabilitySource;
  }

  /**
   * Measures now, for `node`. Never throws: what cannot be read is `null`.
   *
   * @param node the node the sample is about
   * @returns the sample
   */
  sample(node: Location): NodeAvailability {
    let load: number | null = null;
    let cpu: number | null = null;
    const avg = this.#read("loadavg", () => this.#source.loadavg());
    if (Array.isArray(avg) && isNonNegative(avg[0])) {
      load = avg[0];
      const cores = this.#read("cores", () => this.#source.cores());
      if (typeof cores === "number" && Number.isInteger(cores) && cores > 0) {
        cpu = Math.min(1, load / cores);
      }
    }
    let memory: number | null = null;
    let memoryFraction: number | null = null;
    const mem = this.#read("systemMemoryInfo", () => this.#source.systemMemoryInfo());
    if (mem !== null && isNonNegative(mem.available)) {
      memory = mem.available;
      if (isNonNegative(mem.total) && mem.total > 0) {
        memoryFraction = Math.min(1, mem.available / mem.total);
      }
    }
    return new NodeAvailability(node, { cpu, memory, memoryFraction, load });
  }

  #read<T>(kind: string, read: () => T): T | null {
    try {
      return read();
    } catch (e) {
      if (!this.#warned.has(kind)) {
        this.#warned.add(kind);
        logger.warn("cannot read {kind}, reporting it as unknown: {error}", {
          kind,
          error: e instanceof Error ? e.message : String(e),
        });
      }
      return null;
    }
  }
}

function isNonNegative(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x) && x >= 0;
}
