// B6's job module: shipped to the node, run in its servers.
import type { Task } from "../../../src/core/mod.ts";

export function echo(_task: Task, x: unknown): unknown {
  return x;
}
