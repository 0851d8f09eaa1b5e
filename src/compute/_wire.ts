/**
 * The compute layer's classes on the wire: `StatusMessage` and
 * `NodeAvailability` travel between nodes and clients as their own classes,
 * rebuilt from untrusted values by their `from()` checks; `ServerFailed`
 * comes back to clients as itself rather than as a `RemoteError`.
 *
 * @module
 */
import { registerErrorClass, registerInternalClass } from "../net/codec.ts";
import { ServerFailed } from "./server_failed.ts";
import { NodeAvailability, StatusMessage } from "./status_message.ts";

/** Extension types of the compute classes (the codec's internal range, 6–29). */
export const EXT_STATUS_MESSAGE = 7, EXT_NODE_AVAILABILITY = 8;

registerInternalClass(EXT_STATUS_MESSAGE, StatusMessage, {
  encode: (m: StatusMessage) => ({
    type: m.type,
    node: m.node,
    server: m.server,
    task: m.task,
    info: m.info,
  }),
  decode: (p: unknown) => {
    const m = StatusMessage.from(p);
    if (m === null) throw new TypeError("malformed StatusMessage");
    return m;
  },
});

registerInternalClass(EXT_NODE_AVAILABILITY, NodeAvailability, {
  encode: (a: NodeAvailability) => ({
    node: a.node,
    cpu: a.cpu,
    memory: a.memory,
    memoryFraction: a.memoryFraction,
    load: a.load,
  }),
  decode: (p: unknown) => {
    const a = NodeAvailability.from(p);
    if (a === null) throw new TypeError("malformed NodeAvailability");
    return a;
  },
});

registerErrorClass("denocos.compute.ServerFailed", ServerFailed);
