/**
 * Status listeners (`addStatusListener` of a computation and of the shared
 * scheduler): called synchronously, one that throws is logged and kept.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["denocos", "compute"]);

/** Calls `listener` with `message`; an exception is logged, not thrown. */
export function tellListener(listener: (message: unknown) => void, message: unknown): void {
  try {
    listener(message);
  } catch (e) {
    logger.warn("a status listener failed: {error}", { error: e });
  }
}
