/**
 * A compute node in its own process for B6: 2 servers on 127.0.0.1, port 0.
 * Prints `node listening on HOST:PORT` when ready; ends with its input.
 *
 * @module
 */
import { ComputeNode } from "../../src/compute/mod.ts";

const node = await ComputeNode.start({ hostname: "127.0.0.1", port: 0, cpus: 2, secret: "bench" });
console.log(`node listening on ${node.location.hostname}:${node.location.port}`);
for await (const _ of Deno.stdin.readable) { /* until the input ends */ }
await node.close();
