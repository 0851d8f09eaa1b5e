/**
 * Helpers shared by the core tests: an isolated scheduler per test, and the
 * time limit used for waits that should succeed (it only fails a test).
 *
 * @module
 */
import { Scheduler } from "../../mod.ts";

/** How long a wait that must succeed may take before the test fails. */
export const LIMIT = 5000;

/**
 * Runs `fn` with a fresh scheduler and always terminates and finishes it, so a
 * failing test leaves no task, timer or promise behind.
 */
export async function withScheduler(
  fn: (s: Scheduler) => void | Promise<void>,
): Promise<void> {
  const s = new Scheduler();
  try {
    await fn(s);
  } finally {
    await s.terminate();
    await s.finish();
  }
}
