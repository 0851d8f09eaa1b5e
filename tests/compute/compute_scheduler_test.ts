/**
 * The shared `ComputeScheduler` in one process with a real `ComputeNode`:
 * what its status listeners hear, also when added after it knows the node.
 */
import assert from "node:assert/strict";
import { ComputeNode, ComputeScheduler, StatusMessage } from "../../src/compute/mod.ts";

Deno.test("compute scheduler: a listener added after a node joined first hears that node", async () => {
  await using node = await ComputeNode.start({
    hostname: "127.0.0.1",
    port: 0,
    cpus: 2,
    name: "n1",
    secret: "s3cret",
  });
  await using cs = await ComputeScheduler.start({
    hostname: "127.0.0.1",
    port: 0,
    secret: "s3cret",
    nodes: [node.location],
    discover: false,
  });
  // Wait for the node to be announced, whenever that happens (during start or after).
  const announced = Promise.withResolvers<void>();
  const first = cs.addStatusListener((m) => {
    if (m instanceof StatusMessage && m.type === "NodeInitialized") announced.resolve();
  });
  await announced.promise;
  first();
  const heard: StatusMessage[] = [];
  cs.addStatusListener((m) => {
    if (m instanceof StatusMessage) heard.push(m);
  })();
  assert.deepEqual(
    heard.map((m) => [m.type, m.server ?? (m.info as { name?: string }).name ?? m.info]),
    [
      ["NodeDiscovered", "n1"],
      ["NodeInitialized", "n1"],
      ["ServerInitialized", "0"],
      ["ServerInitialized", "1"],
    ],
  );
  assert.equal(heard[0].node.port, node.location.port);
  // The same info the live NodeInitialized carried.
  assert.equal((heard[1].info as { cpus: number }).cpus, 2);
});
