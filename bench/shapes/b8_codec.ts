/**
 * B8 (BENCHMARKS.md): the codec on typical wire frames, each way, next to
 * msgpackr alone on the same frames in the same run.
 *
 * Frames:
 * - "small": a send with a small object, `[1, 12, 3456, { n: 1, text: "hello" }]`;
 * - "task ref": `[1, 12, 3456, task]` where `task` travels as a reference
 *   (msgpackr alone packs the same record as a plain array, what an
 *   application without extension types would send);
 * - "64 KiB binary": `[1, 12, 3456, new Uint8Array(65536)]`.
 *
 * msgpackr alone runs with the options the codec would need from it
 * (records off, `moreTypes`, `copyBuffers`, its buffer reused from one frame
 * to the next). The codec's encoder and decoder are its own (one pass each
 * that checks while it writes or builds), so the ratio is what checking
 * costs, or saves, against msgpackr's unchecked passes.
 *
 * Each (frame, direction) is timed in alternating slices, codec then
 * msgpackr, 7 slices each after a warm-up; the row is the median slice.
 * `ratio` = codec rate / msgpackr rate (target ≥ 0.8).
 *
 * Run: `deno run bench/shapes/b8_codec.ts [frames per slice]`
 *
 * @module
 */
import { Packr, RESET_BUFFER_MODE } from "msgpackr/pack";
import { Unpackr } from "msgpackr/unpack";
import { Codec, type CodecContext } from "../../src/net/codec.ts";

const N = Number(Deno.args[0] ?? 200_000);
const SLICES = 7;

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B8", ...row }));
}

class BenchTask {
  constructor(readonly id: number) {}
}
const location = { hostname: "127.0.0.1", port: 9705 };
const context: CodecContext = {
  isTask: (v) => v instanceof BenchTask,
  isChannel: () => false,
  encodeTask: (t) => ({
    peer: "peer-1",
    incarnation: 1,
    id: (t as BenchTask).id,
    name: "server_task",
    location,
  }),
  decodeTask: (r) => new BenchTask(r.id),
  encodeChannel: () => {
    throw new TypeError("no channels in B8");
  },
  decodeChannel: (r) => r,
};
const codec = new Codec(context);
const packr = new Packr({ useRecords: false, moreTypes: true, useToJSON: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: true, copyBuffers: true });

const frames: { row: string; codec: unknown; bare: unknown; perSlice: number }[] = [
  {
    row: "small",
    codec: [1, 12, 3456, { n: 1, text: "hello" }],
    bare: [1, 12, 3456, { n: 1, text: "hello" }],
    perSlice: N,
  },
  {
    row: "task ref",
    codec: [1, 12, 3456, new BenchTask(42)],
    bare: [1, 12, 3456, ["peer-1", 1, 42, "server_task", "127.0.0.1", 9705]],
    perSlice: N,
  },
  {
    row: "64 KiB binary",
    codec: [1, 12, 3456, new Uint8Array(65536).fill(7)],
    bare: [1, 12, 3456, new Uint8Array(65536).fill(7)],
    perSlice: Math.max(1, Math.floor(N / 100)),
  },
];

let sink = 0;

function timeEncode(encode: (v: unknown) => Uint8Array, value: unknown, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += encode(value).length;
  return n / ((performance.now() - t0) / 1000);
}

function timeDecode(decode: (b: Uint8Array) => unknown, bytes: Uint8Array, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (decode(bytes) !== null) sink++;
  return n / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const codecEncode = (v: unknown): Uint8Array => codec.encode(v);
const bareEncode = (v: unknown): Uint8Array => packr.pack(v, RESET_BUFFER_MODE);
const codecDecode = (b: Uint8Array): unknown => codec.decode(b);
const bareDecode = (b: Uint8Array): unknown => unpackr.unpack(b);

const gc = (globalThis as { gc?: () => void }).gc;
for (const frame of frames) {
  // Own copies of the bytes: the codec's encode returns a reused view.
  const codecBytes = codec.encode(frame.codec).slice();
  const bareBytes = packr.pack(frame.bare).slice();
  for (const direction of ["encode", "decode"] as const) {
    const run = (which: "codec" | "bare", n: number): number =>
      direction === "encode"
        ? timeEncode(which === "codec" ? codecEncode : bareEncode, frame[which], n)
        : timeDecode(
          which === "codec" ? codecDecode : bareDecode,
          which === "codec" ? codecBytes : bareBytes,
          n,
        );
    run("codec", frame.perSlice);
    run("bare", frame.perSlice);
    const ours: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < SLICES; i++) {
      gc?.();
      ours.push(run("codec", frame.perSlice));
      gc?.();
      bare.push(run("bare", frame.perSlice));
    }
    const rate = median(ours);
    const bareRate = median(bare);
    const ratio = rate / bareRate;
    const small = frame.row !== "64 KiB binary";
    emit({
      row: `${frame.row} ${direction}`,
      value: rate,
      unit: "frames/s",
      pycos: "—",
      target: small ? "≥ 3M, ≥ 0.8× bare msgpackr" : "≥ 0.8× bare msgpackr",
      met: (!small || rate >= 3e6) && ratio >= 0.8,
      msgpackr: bareRate,
      ratio,
      bytes: codecBytes.length,
      bareBytes: bareBytes.length,
    });
  }
}
if (sink === 0.5) console.log(sink);
