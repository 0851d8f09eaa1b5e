/**
 * denocos: the pycos model for Deno. Lightweight tasks with mailboxes,
 * broadcast channels and async locks (the core), and asynchronous sockets,
 * datagrams, pipes, files and a Worker thread pool (the I/O layer); peers and
 * distributed computations come next. Importing this module needs no
 * permission: each I/O facility asks only for its own.
 *
 * @example
 * ```ts
 * import { Channel, spawn } from "@denocos/denocos";
 *
 * const sum = spawn(async (task) => {
 *   let total = 0;
 *   for (;;) {
 *     const n = await task.receive<number | null>();
 *     if (n === null) return total;
 *     total += n;
 *   }
 * });
 * const numbers = new Channel("numbers");
 * await numbers.subscribe(sum);
 * for (const n of [1, 2, 3]) numbers.send(n);
 * numbers.send(null);
 * console.log(await sum.finish()); // 6
 * ```
 *
 * @module
 */
export * from "./src/core/mod.ts";
export * from "./src/io/mod.ts";
