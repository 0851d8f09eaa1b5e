/**
 * `deno task demo`: runs the core examples one after another in this
 * process, each under a heading, then the tutorial's distributed pair
 * (§7.3) as two processes: `remote_server.ts` and `remote_client.ts`
 * talking over 127.0.0.1.
 *
 * Run: `npx deno run --allow-run examples/demo.ts`, or `npx deno task demo`.
 *
 * @module
 */
import { main as channel } from "./channel.ts";
import { main as clientServer } from "./client_server.ts";
import { main as hotswap } from "./hotswap.ts";
import { main as tasks } from "./tasks.ts";

const examples: [string, string, () => Promise<void>][] = [
  ["tasks.ts", "ten tasks sleep a random time each", tasks],
  ["client_server.ts", "ten clients send messages to a daemon server", clientServer],
  ["channel.ts", "a channel broadcasts numbers to a sum task and a product task", channel],
  ["hotswap.ts", "a running server task gets its function replaced", hotswap],
];

for (const [file, what, run] of examples) {
  console.log(`\n=== examples/${file}: ${what} ===\n`);
  await run();
}
console.log(
  "\n=== examples/remote_server.ts + remote_client.ts: two processes, one remote task ===\n",
);
await twoProcesses();
console.log("\nEach example also runs alone: npx deno run examples/<name>.ts");

/** Starts `examples/<name>` as a child process with `flags`, its output shown with a prefix. */
function child(name: string, flags: string[], args: string[]) {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL(name, import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let wake: () => void = () => {};
  const pump = (async () => {
    for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
      for (const line of chunk.split("\n")) {
        if (line === "") continue;
        lines.push(line);
        console.log(`[${name.replace(".ts", "")}] ${line}`);
      }
      wake();
    }
  })();
  const waitFor = async (re: RegExp): Promise<RegExpMatchArray> => {
    for (let seen = 0;; await new Promise<void>((r) => wake = r)) {
      for (; seen < lines.length; seen++) {
        const m = lines[seen].match(re);
        if (m !== null) return m;
      }
    }
  };
  return { proc, pump, waitFor };
}

async function twoProcesses(): Promise<void> {
  const net = ["--allow-net=127.0.0.1"]; // exactly what each example needs
  const server = child("remote_server.ts", net, ["0", "30"]);
  const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
  const client = child("remote_client.ts", net, [port, "10"]);
  for (const p of [client, server]) {
    const status = await p.proc.status;
    await p.pump;
    if (!status.success) throw new Error(`a child exited with ${status.code}`);
  }
}
