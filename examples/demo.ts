/**
 * `deno task demo`: runs the examples one after another in this process,
 * each under a heading. Needs no permissions.
 *
 * Run: `npx deno run examples/demo.ts` (no permissions needed), or `npx deno task demo`.
 *
 * @module
 */
import { main as channel } from "./channel.ts";
import { main as clientServer } from "./client_server.ts";
import { main as hotswap } from "./hotswap.ts";
import { main as tasks } from "./tasks.ts";

const examples: [string, string, () => Promise<void>][] = [
  ["tasks.ts", "ten tasks sleep a random time each", tasks],
  ["client_server.ts", "ten clients send messages to a daemon server", clientServer],
  ["channel.ts", "a channel broadcasts numbers to a sum task and a product task", channel],
  ["hotswap.ts", "a running server task gets its function replaced", hotswap],
];

for (const [file, what, run] of examples) {
  console.log(`\n=== examples/${file}: ${what} ===\n`);
  await run();
}
console.log("\nEach example also runs alone: npx deno run examples/<name>.ts");
