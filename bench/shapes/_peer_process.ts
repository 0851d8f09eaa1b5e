/**
 * Starts `_peer_child.ts` for a network shape and reads its ready line.
 *
 * @module
 */

/** The child peer: where it listens, and how to stop it. */
export interface ChildPeer extends AsyncDisposable {
  port: number;
  barePort: number;
  child: Deno.ChildProcess;
}

/** Starts the child peer. */
export async function startChild(): Promise<ChildPeer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL("./_peer_child.ts", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let m: RegExpMatchArray | null = null;
  while (m === null) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`peer child ended: ${seen}`);
    seen += value;
    m = seen.match(/peer 127\.0\.0\.1:(\d+) bare (\d+)/);
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    port: Number(m[1]),
    barePort: Number(m[2]),
    child,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await child.stdin.close().catch(() => {});
      await drain;
    },
  };
}
