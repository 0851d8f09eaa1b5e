/**
 * `receive`'s type says what a timeout gives: `T` without a timeout,
 * `T | undefined` with one, `T | A` with `alarmValue: A`. Checked by
 * `deno check` (the test run type-checks), then at run time.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Task } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** `true` only when `X` and `Y` are the same type. */
type Equal<X, Y> = (<G>() => G extends X ? 1 : 2) extends (<G>() => G extends Y ? 1 : 2) ? true
  : false;

/** Compiles only for `true`. */
function assertType<_ extends true>(): void {}

/** Type checks only: never called (`deno check` is the test). */
async function receiveTypes(task: Task): Promise<void> {
  const untimed = task.receive<number>();
  assertType<Equal<typeof untimed, Promise<number>>>();
  const signalled = task.receive<number>({ signal: new AbortController().signal });
  assertType<Equal<typeof signalled, Promise<number>>>();
  const timed = task.receive<number>({ timeout: 1 });
  assertType<Equal<typeof timed, Promise<number | undefined>>>();
  const alarmed = task.receive<number, "none">({ timeout: 1, alarmValue: "none" });
  assertType<Equal<typeof alarmed, Promise<number | "none">>>();
  // Without explicit type arguments T is unknown, and so is the union.
  const inferred = task.receive({ timeout: 1, alarmValue: null });
  assertType<Equal<typeof inferred, Promise<unknown>>>();
  const opts: { timeout?: number } = { timeout: 1 };
  const maybe = task.receive<string>(opts);
  assertType<Equal<typeof maybe, Promise<string | undefined>>>();
  // @ts-expect-error: a timed receive may give undefined
  const n: number = await task.receive<number>({ timeout: 0 });
  void n;
}

Deno.test("receive types: no timeout T, timeout T | undefined, alarmValue T | A", () => {
  assert.equal(typeof receiveTypes, "function");
});

Deno.test("receive types: runtime values match the types", async () => {
  await withScheduler(async (s) => {
    const t = s.spawn(async (task: Task) => {
      const a: number | undefined = await task.receive<number>({ timeout: 0 });
      const b: number | "none" = await task.receive<number, "none">({
        timeout: 0,
        alarmValue: "none",
      });
      return [a, b];
    });
    assert.deepEqual(await t.finish({ timeout: LIMIT }), [undefined, "none"]);
  });
});
