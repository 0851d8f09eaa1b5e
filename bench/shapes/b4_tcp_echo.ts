/**
 * B4 (BENCHMARKS.md): TCP echo on 127.0.0.1, 100 clients × 1,000 round trips
 * of 64 bytes each, `TCP_NODELAY`.
 *
 * Rows:
 * - "one process": denocos `AsyncSocket`s, a task per client and a task per
 *   server connection, server and clients in this process; the same shape as
 *   the bare one: each side reads into its own buffer (`recvInto`, as
 *   `Deno.Conn.read`) and sends with `sendAll`;
 * - "bare Deno.Conn": that shape on raw `Deno.Conn`s and plain async
 *   functions, in the same run; `ratio` = denocos / bare (the target is
 *   ≥ 0.85);
 * - "one process, recv/recvAll": as "one process" with the allocating reads
 *   (a new array per message), for reference.
 *
 * These three are timed in alternating slices of half the rounds (A B C C B
 * A, on the same connections), so a change in machine load during the run
 * weighs on all alike.
 * - "two processes": the denocos server (`recvInto` + `sendAll`) in a child
 *   process (this program with `--serve`), the denocos clients here.
 *
 * Each clock runs from a slice's first send to its last echo; connecting is
 * not timed.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/shapes/b4_tcp_echo.ts [clients] [rounds]`
 *
 * @module
 */
import { AsyncSocket, Scheduler } from "../../mod.ts";

const numbers = Deno.args.filter((a) => /^\d+$/.test(a)).map(Number);
const CLIENTS = numbers[0] ?? 100;
const ROUNDS = numbers[1] ?? 1000;
const SIZE = 64;

/** Prints one result row as the bench runner expects it. */
function emit(row: Record<string, unknown>): void {
  console.log(JSON.stringify({ id: "B4", ...row }));
}

/** A set of echo clients that can run `rounds` round trips each, timed. */
interface Echo {
  /** Seconds for every client to do `rounds` round trips at once. */
  run(rounds: number): Promise<number>;
  close(): Promise<void>;
}

/** A denocos echo server: a task per connection. */
function denocosServer(s: Scheduler, zeroCopy: boolean): { port: number; close(): void } {
  const server = AsyncSocket.listen({
    hostname: "127.0.0.1",
    port: 0,
    noDelay: true,
    scheduler: s,
  });
  s.spawn(async (task) => {
    task.setDaemon();
    for await (const conn of server) {
      s.spawn(async (t) => {
        t.setDaemon();
        try {
          if (zeroCopy) {
            const buf = new Uint8Array(4096);
            for (let n; (n = await conn.recvInto(buf)) !== null;) {
              await conn.sendAll(buf.subarray(0, n));
            }
          } else {
            for (;;) {
              const data = await conn.recv(4096);
              if (data.length === 0) break;
              await conn.sendAll(data);
            }
          }
        } finally {
          conn.close();
        }
      });
    }
  });
  return { port: server.localAddr.port, close: () => server.close() };
}

/** denocos clients, a task each, against `port`. */
async function denocosClients(
  s: Scheduler,
  port: number,
  clients: number,
  zeroCopy: boolean,
): Promise<Echo> {
  const socks: AsyncSocket[] = [];
  for (let i = 0; i < clients; i++) {
    socks.push(
      await AsyncSocket.connect({ hostname: "127.0.0.1", port, noDelay: true, scheduler: s }),
    );
  }
  const msg = new Uint8Array(SIZE).fill(42);
  const fill = { all: true };
  return {
    async run(rounds) {
      const t0 = performance.now();
      const tasks = socks.map((sock) =>
        s.spawn(async () => {
          const buf = new Uint8Array(SIZE);
          for (let r = 0; r < rounds; r++) {
            await sock.sendAll(msg);
            const echo = zeroCopy
              ? (await sock.recvInto(buf, fill), buf)
              : await sock.recvAll(SIZE);
            if (echo[SIZE - 1] !== 42) throw new Error("B4: bad echo");
          }
        })
      );
      for (const t of tasks) await t.finish();
      return (performance.now() - t0) / 1000;
    },
    async close() {
      for (const sock of socks) await sock[Symbol.asyncDispose]();
    },
  };
}

/** The denocos shape in this process. */
async function denocos(clients: number, zeroCopy: boolean): Promise<Echo> {
  const s = new Scheduler();
  const server = denocosServer(s, zeroCopy);
  const echo = await denocosClients(s, server.port, clients, zeroCopy);
  return {
    run: echo.run,
    async close() {
      await echo.close();
      server.close();
      await s.finish();
    },
  };
}

/** The same shape on raw `Deno.Conn`s and plain async functions. */
async function bare(clients: number): Promise<Echo> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for (let i = 0; i < clients; i++) {
      const conn = await listener.accept();
      conn.setNoDelay(true);
      served.push((async () => {
        const buf = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
          }
        } finally {
          conn.close();
        }
      })());
    }
  })();
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < clients; i++) {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.setNoDelay(true);
    conns.push(c);
  }
  await accepting;
  const msg = new Uint8Array(SIZE).fill(42);
  return {
    async run(rounds) {
      const t0 = performance.now();
      await Promise.all(conns.map(async (c) => {
        const buf = new Uint8Array(SIZE);
        for (let r = 0; r < rounds; r++) {
          // A view only for a partial write or read (rare): the reference
          // must not pay for allocations a plain loop avoids.
          for (let off = 0; off < SIZE;) {
            off += await c.write(off === 0 ? msg : msg.subarray(off));
          }
          for (let got = 0; got < SIZE;) {
            const n = await c.read(got === 0 ? buf : buf.subarray(got));
            if (n === null) throw new Error("B4: server closed");
            got += n;
          }
          if (buf[SIZE - 1] !== 42) throw new Error("B4: bad echo");
        }
      }));
      return (performance.now() - t0) / 1000;
    },
    async close() {
      for (const c of conns) c.close();
      await Promise.all(served);
      listener.close();
    },
  };
}

/** denocos clients here against a denocos server in a child process. */
async function twoProcesses(clients: number, rounds: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL(import.meta.url).pathname, "--serve"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("B4: the server process ended early");
    first += value;
  }
  const s = new Scheduler();
  try {
    const echo = await denocosClients(s, Number(first.trim()), clients, true);
    await echo.run(Math.min(rounds, 100)); // warm-up
    const seconds = await echo.run(rounds);
    await echo.close();
    return (clients * rounds) / seconds;
  } finally {
    await s.finish();
    await child.stdin.close(); // tells the server process to exit
    await reader.cancel();
    await child.status;
  }
}

if (Deno.args.includes("--serve")) {
  // The server half of "two processes": print the port, serve until stdin ends.
  const s = new Scheduler();
  const server = denocosServer(s, true);
  console.log(server.port);
  for await (const _ of Deno.stdin.readable) { /* wait for the end of input */ }
  server.close();
  await s.finish();
} else {
  const ours = await denocos(CLIENTS, true);
  const raw = await bare(CLIENTS);
  const views = await denocos(CLIENTS, false);
  // Warm-up, so nobody pays for compilation inside its timed slices.
  for (const e of [ours, raw, views]) await e.run(100);
  // Timed in slices of half the rounds, in the order A B C C B A.
  const half = Math.max(1, Math.floor(ROUNDS / 2));
  let oursSeconds = await ours.run(half);
  let rawSeconds = await raw.run(half);
  let viewsSeconds = await views.run(half);
  viewsSeconds += await views.run(ROUNDS - half);
  rawSeconds += await raw.run(ROUNDS - half);
  oursSeconds += await ours.run(ROUNDS - half);
  for (const e of [ours, raw, views]) await e.close();
  const rate = (seconds: number): number => (CLIENTS * ROUNDS) / seconds;
  const common = { unit: "rt/s", clients: CLIENTS, rounds: ROUNDS, bytes: SIZE };
  // The ratio is denocos's rate over bare Deno.Conn's (1 = as fast); ≥ 0.85 = within 15 %.
  const TARGET = "≥ 48k; ≥ 0.85× bare rate";
  const met = (seconds: number): boolean => rate(seconds) >= 48_000 && rawSeconds / seconds >= 0.85;
  emit({
    row: "one process",
    value: rate(oursSeconds),
    pycos: "12.1k",
    target: TARGET,
    met: met(oursSeconds),
    ...common,
    ratio: rawSeconds / oursSeconds,
    api: "recvInto + sendAll",
  });
  emit({
    row: "bare Deno.Conn",
    value: rate(rawSeconds),
    pycos: "—",
    target: "reference",
    ...common,
  });
  emit({
    row: "one process, recv/recvAll",
    value: rate(viewsSeconds),
    pycos: "12.1k",
    target: TARGET,
    met: met(viewsSeconds),
    ...common,
    ratio: rawSeconds / viewsSeconds,
    api: "recv/recvAll (a new array per message) + sendAll",
  });
  emit({
    row: "two processes",
    value: await twoProcesses(CLIENTS, ROUNDS),
    pycos: "22.0k",
    target: "≥ 88k",
    ...common,
  });
}
