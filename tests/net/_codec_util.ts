/**
 * Helpers for the codec tests: stand-ins for tasks and channels with a
 * context that turns them into references, and byte builders.
 *
 * @module
 */
import { Codec, type CodecContext, type CodecLimits } from "../../src/net/codec.ts";

/** Stands for a task; `peer` "here" decodes back to the same object. */
export class FakeTask {
  constructor(readonly id: number, readonly name = `task-${id}`, readonly peer = "peer-a") {}
}

/** Stands for a channel. */
export class FakeChannel {
  constructor(readonly name: string, readonly peer = "peer-a") {}
}

export const LOCATION = { hostname: "127.0.0.1", port: 9705 };

/** A context over FakeTask/FakeChannel; `decoded` counts the references it rebuilt. */
export function fakeContext(): CodecContext & { decoded: number } {
  return {
    decoded: 0,
    isTask: (v) => v instanceof FakeTask,
    isChannel: (v) => v instanceof FakeChannel,
    encodeTask(t) {
      const task = t as FakeTask;
      return { peer: task.peer, incarnation: 3, id: task.id, name: task.name, location: LOCATION };
    },
    decodeTask(r) {
      this.decoded++;
      return new FakeTask(r.id, r.name, r.peer);
    },
    encodeChannel(c) {
      const ch = c as FakeChannel;
      return { peer: ch.peer, name: ch.name, location: LOCATION };
    },
    decodeChannel(r) {
      this.decoded++;
      return new FakeChannel(r.name, r.peer);
    },
  };
}

/** A codec over a fresh fake context. */
export function codec(limits?: CodecLimits): Codec {
  return new Codec(fakeContext(), limits);
}

/** Encodes then decodes `value`. */
export function roundTrip<T>(value: T, c: Codec = codec()): T {
  return c.decode(c.encode(value).slice()) as T;
}

/** Bytes from numbers and arrays of numbers, e.g. `bytes(0x91, [0x01])`. */
export function bytes(...parts: (number | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else for (const x of p) out.push(x);
  }
  return new Uint8Array(out);
}

/** The UTF-8 bytes of `s`. */
export function utf8(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

/** A deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
