/**
 * Throughput of the framing layer: 1,000,000 small (30-byte) messages
 * written through `FrameWriter`, carried by TCP on 127.0.0.1 (or by the
 * simulated network) and parsed by `FrameReader`, in one process. The
 * reference moves the same bytes over the same kind of connection without
 * framing, so the ratio shows what framing costs.
 *
 * Run: `deno bench --allow-net=127.0.0.1 bench/net_frames_bench.ts`
 * (messages/s = 1,000,000 / time per iteration).
 *
 * @module
 */
import { FrameReader, FrameWriter } from "../src/net/_frames.ts";
import { SimulatedNetwork } from "../src/net/simulated_network.ts";
import { tcpTransport, type TransportConn } from "../src/net/transport.ts";

const MESSAGES = 1_000_000;
const SIZE = 30;
/** Messages written between checks of the queue (a sender's burst). */
const BURST = 1000;
/** Past this many unsent bytes the sender waits for the queue to drain. */
const HIGH_WATER = 4 << 20;

async function tcpPair(): Promise<[TransportConn, TransportConn]> {
  const listener = await tcpTransport.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await tcpTransport.dial({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  listener.close();
  return [client, server];
}

async function simPair(): Promise<[TransportConn, TransportConn]> {
  const net = new SimulatedNetwork();
  const listener = await net.transport("b").listen({ hostname: "b", port: 1 });
  const client = await net.transport("a").dial({ hostname: "b", port: 1 });
  const server = await listener.accept();
  listener.close();
  return [client, server];
}

/** Sends `MESSAGES` messages from `client` to `server` and waits until all were parsed. */
async function frames(client: TransportConn, server: TransportConn): Promise<void> {
  let got = 0;
  let bytes = 0;
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const reader = new FrameReader(server, {
    onFrame(_kind, body) {
      bytes += body.length;
      if (++got === MESSAGES) finish();
    },
    onError: (e) => fail(e),
    onEnd: () => fail(new Error(`ended after ${got} messages`)),
  });
  reader.authenticated();
  const reading = reader.start();
  const writer = new FrameWriter(client);
  const msg = new Uint8Array(SIZE).fill(7);
  for (let i = 0; i < MESSAGES; i += BURST) {
    for (let j = 0; j < BURST; j++) writer.writeMessage(msg);
    if (writer.queuedBytes > HIGH_WATER) await writer.flushed();
  }
  await finished;
  if (bytes !== MESSAGES * SIZE) throw new Error(`got ${bytes} bytes`);
  reader.stop();
  writer.close();
  client.close();
  server.close();
  await reading;
}

/** The same bytes (header included) in 64 KiB writes, read into a 64 KiB buffer: no framing. */
async function raw(client: TransportConn, server: TransportConn): Promise<void> {
  const total = MESSAGES * (SIZE + 5);
  const chunk = new Uint8Array(65536);
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    let got = 0;
    while (got < total) {
      const n = await server.read(buf);
      if (n === null) throw new Error("ended early");
      got += n;
    }
  })();
  for (let sent = 0; sent < total;) {
    sent += await client.write(chunk.subarray(0, Math.min(chunk.length, total - sent)));
  }
  await reading;
  client.close();
  server.close();
}

Deno.bench({
  name: "TCP: raw bytes, same volume (reference)",
  group: "tcp",
  baseline: true,
  n: 5,
  warmup: 1,
  async fn(b) {
    const [client, server] = await tcpPair();
    b.start();
    await raw(client, server);
    b.end();
  },
});

Deno.bench({
  name: `TCP: ${MESSAGES} messages of ${SIZE} B, FrameWriter -> FrameReader`,
  group: "tcp",
  n: 5,
  warmup: 1,
  async fn(b) {
    const [client, server] = await tcpPair();
    b.start();
    await frames(client, server);
    b.end();
  },
});

Deno.bench({
  name: "simulated: raw bytes, same volume (reference)",
  group: "sim",
  baseline: true,
  n: 5,
  warmup: 1,
  async fn(b) {
    const [client, server] = await simPair();
    b.start();
    await raw(client, server);
    b.end();
  },
});

Deno.bench({
  name: `simulated: ${MESSAGES} messages of ${SIZE} B, FrameWriter -> FrameReader`,
  group: "sim",
  n: 5,
  warmup: 1,
  async fn(b) {
    const [client, server] = await simPair();
    b.start();
    await frames(client, server);
    b.end();
  },
});
