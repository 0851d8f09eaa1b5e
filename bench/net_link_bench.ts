/**
 * The link layer's speed, over TCP on 127.0.0.1 in one process:
 *
 * - throughput: 200,000 small (30-byte) messages from one hub to another,
 *   from the first `send` to the last message delivered;
 * - latency: a ping-pong of one 30-byte message between two hubs, and the
 *   same over bare `Deno.Conn`s in the same run (the reference), p50 of
 *   each round trip.
 *
 * The machine is shared, so each figure is the median of several runs and
 * the latency is reported as a ratio to the bare reference measured right
 * next to it.
 *
 * - the same stream to a hub in a child process (`bench/_net_link_peer.ts`),
 *   timed until the child's "all received" answer comes back.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-read --allow-run bench/net_link_bench.ts [--runs 5]`
 *
 * @module
 */
import { type Link, PeerHub } from "../src/net/_hub.ts";
import { tcpTransport } from "../src/net/transport.ts";

const MESSAGES = 200_000;
const SIZE = 30;
const ROUND_TRIPS = 2000;
const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1]) || 5;

interface Pair {
  a: PeerHub;
  b: PeerHub;
  ab: Link;
  onB: (link: Link, body: Uint8Array) => void;
  onA: (link: Link, body: Uint8Array) => void;
}

let n = 0;
async function pair(): Promise<Pair> {
  const p = { onA: () => {}, onB: () => {} } as unknown as Pair;
  const hub = (name: string, on: () => (link: Link, body: Uint8Array) => void) =>
    PeerHub.start({
      transport: tcpTransport,
      hostname: "127.0.0.1",
      port: 0,
      identity: { id: `${name}${n++}`, name, incarnation: 1 },
      secret: "bench",
      cluster: "bench",
      heartbeatInterval: 500,
      peerTimeout: 2500,
      maxMessageSize: 64 << 20,
      maxQueuedBytes: 64 << 20,
    }, {
      online() {},
      offline() {},
      message: (link, body) => on()(link, body),
    });
  p.a = await hub("a", () => p.onA);
  p.b = await hub("b", () => p.onB);
  p.ab = await p.a.connect(p.b.location, { timeout: 5000 });
  return p;
}

async function throughput(round: number): Promise<number> {
  const p = await pair();
  try {
    const body = new Uint8Array(SIZE).fill(7);
    let got = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    p.onB = () => {
      if (++got === MESSAGES) done();
    };
    const start = performance.now();
    // In rounds, as a producer would: each round's sends coalesce into few
    // writes; between rounds the event loop runs (the writer, the reader).
    for (let sent = 0; sent < MESSAGES;) {
      for (let i = 0; i < round; i++, sent++) p.ab.send(body);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await finished;
    return MESSAGES / ((performance.now() - start) / 1000);
  } finally {
    await p.a.close();
    await p.b.close();
  }
}

/** The same stream to a hub in another process; it answers once it has them all. */
async function twoProcesses(
  runs: number,
): Promise<number[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("./_net_link_peer.ts", import.meta.url).pathname,
      String(MESSAGES),
    ],
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let a: PeerHub | undefined;
  try {
    let out = "";
    while (!/listening (\d+)/.test(out)) {
      const { value, done } = await lines.read();
      if (done) throw new Error("peer ended: " + out);
      out += value;
    }
    const port = Number(/listening (\d+)/.exec(out)![1]);
    let answered!: () => void;
    a = await PeerHub.start({
      transport: tcpTransport,
      hostname: "127.0.0.1",
      port: 0,
      identity: { id: `a${n++}`, name: "a", incarnation: 1 },
      secret: "bench",
      cluster: "bench",
      heartbeatInterval: 500,
      peerTimeout: 2500,
      maxMessageSize: 64 << 20,
      maxQueuedBytes: 64 << 20,
    }, { online() {}, offline() {}, message: () => answered() });
    const link = await a.connect({ hostname: "127.0.0.1", port }, { timeout: 5000 });
    const body = new Uint8Array(SIZE).fill(7);
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const finished = new Promise<void>((resolve) => answered = resolve);
      const start = performance.now();
      for (let sent = 0; sent < MESSAGES;) {
        for (let i = 0; i < 10_000; i++, sent++) link.send(body);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      await finished;
      rates.push(MESSAGES / ((performance.now() - start) / 1000));
    }
    return rates;
  } finally {
    await a?.close();
    child.kill("SIGKILL");
    await lines.cancel().catch(() => {});
    await child.status;
  }
}

function p50(samples: number[]): number {
  samples.sort((x, y) => x - y);
  return samples[samples.length >> 1];
}

async function linkPingPong(): Promise<number> {
  const p = await pair();
  try {
    const body = new Uint8Array(SIZE).fill(1);
    const samples: number[] = [];
    let t0 = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => done = resolve);
    p.onB = (link, msg) => link.send(msg);
    p.onA = (link) => {
      const t = performance.now();
      samples.push(t - t0);
      if (samples.length === ROUND_TRIPS) return done();
      t0 = t;
      link.send(body);
    };
    t0 = performance.now();
    p.ab.send(body);
    await finished;
    return p50(samples.slice(100)) * 1000;
  } finally {
    await p.a.close();
    await p.b.close();
  }
}

async function bareReadExactly(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    const n = await conn.read(buf.subarray(at));
    if (n === null) throw new Error("closed");
    at += n;
  }
}

async function barePingPong(): Promise<number> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  client.setNoDelay(true);
  server.setNoDelay(true);
  try {
    const echo = (async () => {
      const buf = new Uint8Array(SIZE);
      for (let i = 0; i < ROUND_TRIPS; i++) {
        await bareReadExactly(server, buf);
        await server.write(buf);
      }
    })();
    const body = new Uint8Array(SIZE).fill(1);
    const back = new Uint8Array(SIZE);
    const samples: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const t0 = performance.now();
      await client.write(body);
      await bareReadExactly(client, back);
      samples.push(performance.now() - t0);
    }
    await echo;
    return p50(samples.slice(100)) * 1000;
  } finally {
    client.close();
    server.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}

const rates: number[] = [];
const bursts: number[] = [];
const linkRtt: number[] = [];
const bareRtt: number[] = [];
for (let r = 0; r < runs; r++) {
  rates.push(await throughput(10_000));
  bursts.push(await throughput(MESSAGES));
  bareRtt.push(await barePingPong());
  linkRtt.push(await linkPingPong());
}
const procs = await twoProcesses(runs);
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(`runs: ${runs}`);
console.log(
  `throughput, ${MESSAGES} × ${SIZE} B hub→hub over TCP, rounds of 10,000: median ${
    fmt(median(rates))
  } msgs/s ` +
    `(runs: ${rates.map(fmt).join(", ")})`,
);
console.log(
  `throughput, all ${MESSAGES} sent in one go: median ${fmt(median(bursts))} msgs/s ` +
    `(runs: ${bursts.map(fmt).join(", ")})`,
);
console.log(
  `throughput to another process, rounds of 10,000: median ${fmt(median(procs))} msgs/s ` +
    `(runs: ${procs.map(fmt).join(", ")})`,
);
console.log(
  `ping-pong p50: link ${median(linkRtt).toFixed(1)} µs, bare Deno.Conn ${
    median(bareRtt).toFixed(1)
  } µs, ratio ${(median(linkRtt) / median(bareRtt)).toFixed(2)} ` +
    `(per run link/bare: ${linkRtt.map((x, i) => (x / bareRtt[i]).toFixed(2)).join(", ")})`,
);
