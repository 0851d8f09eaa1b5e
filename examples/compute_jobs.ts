/**
 * The job functions the compute examples ship to nodes. Each export runs as
 * a task inside a sandboxed server (a Worker with no permission): it gets its
 * task first, then the arguments of `run`.
 *
 * @module
 */
import type { Task } from "../mod.ts";

/** The tutorial's §7.4 `rcoro_proc`: sleeps `ms` and returns it. */
export async function compute(task: Task, ms: number): Promise<number> {
  await task.sleep(ms);
  return ms;
}

/** A plain object the client and a job exchange by messages. */
export interface Item {
  n: number;
  square?: number;
  by?: string;
}

/**
 * pycos's dispycos_client3: receives items from `client` until `null`,
 * answers each with its square filled in, then returns how many it saw.
 */
export async function squares(task: Task, client: { send(m: unknown): boolean }): Promise<number> {
  let seen = 0;
  for (;;) {
    const item = await task.receive<Item | null>();
    if (item === null) return seen;
    seen++;
    client.send({ ...item, square: item.n * item.n, by: `job ${task.id}` });
  }
}

/**
 * `serverSetup` for compute_server_setup.ts: builds a table once per server
 * (pycos's `server_setup`); jobs find it as `task.setup`.
 */
export function loadTable(_task: Task, size: number): number[] {
  return Array.from({ length: size }, (_, i) => i * i);
}

/** Looks `i` up in the server's table (built once by `loadTable`). */
export function lookup(task: Task & { setup?: unknown }, i: number): number {
  const table = task.setup as number[];
  return table[i];
}
