/**
 * Test support for distributed denocos code: `SimulatedNetwork` connects
 * several schedulers in one process over in-memory connections and injects
 * faults (partitions, delay, loss, dead hosts) on command, deterministically
 * for a seed.
 *
 * @example
 * ```ts
 * import { SimulatedNetwork } from "@denocos/denocos/net/testing";
 *
 * const net = new SimulatedNetwork({ seed: 1 });
 * const server = net.transport("server");
 * const client = net.transport("client");
 * const listener = await server.listen({ hostname: "server", port: 9705 });
 * const conn = await client.dial({ hostname: "server", port: 9705 });
 * const accepted = await listener.accept();
 * net.kill("server"); // the client hears nothing more: heartbeats must notice
 * conn.close();
 * accepted.close();
 * ```
 *
 * @module
 */
export {
  SimulatedNetwork,
  type SimulatedNetworkOptions,
  type SimulatedNetworkStats,
} from "./simulated_network.ts";
