import assert from "node:assert/strict";
import {
  isStatusType,
  locationFrom,
  NodeAvailability,
  STATUS_TYPES,
  StatusMessage,
} from "../../src/compute/status_message.ts";

const node = { hostname: "127.0.0.1", port: 9705 };

Deno.test("status: the nine types of DESIGN §6", () => {
  assert.deepEqual([...STATUS_TYPES], [
    "NodeDiscovered",
    "NodeInitialized",
    "NodeClosed",
    "NodeAbandoned",
    "ServerInitialized",
    "ServerClosed",
    "ServerAbandoned",
    "TaskStarted",
    "TaskAbandoned",
  ]);
  for (const t of STATUS_TYPES) assert.ok(isStatusType(t));
  assert.ok(!isStatusType("nodeDiscovered"));
  assert.ok(!isStatusType(1));
});

Deno.test("status: a message keeps its fields and omits the absent ones", () => {
  const task = { id: 7 };
  const m = new StatusMessage("TaskStarted", node, { server: "2", task, info: "compute" });
  assert.ok(m instanceof StatusMessage);
  assert.equal(m.type, "TaskStarted");
  assert.deepEqual(m.node, node);
  assert.equal(m.server, "2");
  assert.equal(m.task, task);
  assert.equal(m.info, "compute");
  const bare = new StatusMessage("NodeDiscovered", node);
  assert.deepEqual(Object.keys(bare).sort(), ["node", "type"]);
});

Deno.test("status: from() accepts a decoded plain message and rebuilds the class", () => {
  const m = StatusMessage.from({
    type: "ServerClosed",
    node: { hostname: "n1", port: 1, extra: "dropped" },
    server: "s",
    info: { why: "closed" },
  });
  assert.ok(m instanceof StatusMessage);
  assert.deepEqual(m.node, { hostname: "n1", port: 1 });
  assert.equal(m.server, "s");
  assert.deepEqual(m.info, { why: "closed" });
});

Deno.test("status: from() refuses hostile shapes", () => {
  const bad: unknown[] = [
    null,
    42,
    "NodeClosed",
    { type: "Nope", node },
    { type: "NodeClosed" },
    { type: "NodeClosed", node: { hostname: "h", port: 70000 } },
    { type: "NodeClosed", node: { hostname: "h", port: 1.5 } },
    { type: "NodeClosed", node: { hostname: "", port: 1 } },
    { type: "NodeClosed", node: { hostname: "x".repeat(256), port: 1 } },
    { type: "NodeClosed", node: { hostname: 5, port: 1 } },
    { type: "ServerClosed", node, server: 3 },
    { type: "ServerClosed", node, server: "" },
    { type: "ServerClosed", node, server: "s".repeat(256) },
  ];
  for (const v of bad) assert.equal(StatusMessage.from(v), null, JSON.stringify(v));
  assert.equal(locationFrom([]), null);
});

Deno.test("availability: from() keeps good measurements and nulls bad ones", () => {
  const a = NodeAvailability.from({
    node,
    cpu: 0.5,
    memory: 1024,
    memoryFraction: 0.1,
    load: 3,
  });
  assert.ok(a instanceof NodeAvailability);
  assert.deepEqual({ ...a }, { node, cpu: 0.5, memory: 1024, memoryFraction: 0.1, load: 3 });
  const b = NodeAvailability.from({
    node,
    cpu: 1.5,
    memory: -1,
    memoryFraction: NaN,
    load: "high",
  });
  assert.deepEqual({ ...b }, { node, cpu: null, memory: null, memoryFraction: null, load: null });
  assert.equal(NodeAvailability.from({ node: null, cpu: 0 }), null);
  assert.equal(NodeAvailability.from(undefined), null);
  assert.deepEqual({ ...new NodeAvailability(node) }, {
    node,
    cpu: null,
    memory: null,
    memoryFraction: null,
    load: null,
  });
});
