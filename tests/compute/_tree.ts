/**
 * A throwaway folder of source files for the code-shipping tests.
 *
 * @module
 */
import * as nodePath from "node:path";

/** Creates a temp folder holding `files` (path → content), runs `fn`, removes the folder. */
export async function withTree(
  files: Record<string, string | Uint8Array>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "denocos_ship_" }));
  try {
    for (const [path, content] of Object.entries(files)) {
      const abs = nodePath.join(dir, path);
      await Deno.mkdir(nodePath.dirname(abs), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(abs, content);
      else await Deno.writeFile(abs, content);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The SHA-256 of `bytes` as hex, computed independently of the code under test. */
export async function sha(bytes: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", data)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
