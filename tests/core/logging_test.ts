import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { Channel } from "../../mod.ts";
import { LIMIT, withScheduler } from "./_util.ts";

/** Captures every record of the `["denocos"]` categories while `fn` runs. */
async function capturing(fn: (records: LogRecord[]) => Promise<void>): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (r: LogRecord) => void records.push(r) },
    loggers: [
      { category: ["denocos"], lowestLevel: "debug", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    await fn(records);
  } finally {
    await reset();
  }
}

/** The record's message with its values filled in. */
function render(r: LogRecord): string {
  return r.message.map((part) => (typeof part === "string" ? part : String(part))).join("");
}

Deno.test("an uncaught task error is logged under ['denocos','task'] with the task's name", async () => {
  await capturing(async (records) => {
    await withScheduler(async (s) => {
      const t = s.spawn(function exploder() {
        throw new Error("kaboom");
      });
      await assert.rejects(t.finish({ timeout: LIMIT }), { message: "kaboom" });
    });
    const errors = records.filter((r) =>
      r.category.join(".") === "denocos.task" && r.level === "error"
    );
    assert.equal(errors.length, 1, JSON.stringify(records.map(render)));
    const text = render(errors[0]);
    assert.match(text, /exploder/);
    assert.match(text, /kaboom/);
    assert.equal(errors[0].properties.name, "exploder");
  });
});

Deno.test("termination and a handled error are not logged as errors", async () => {
  await capturing(async (records) => {
    await withScheduler(async (s) => {
      const t = s.spawn(async function quiet(task) {
        try {
          await task.receive({ timeout: 1 });
          throw new Error("handled");
        } catch {
          return "ok";
        }
      });
      assert.equal(await t.finish({ timeout: LIMIT }), "ok");
      const stopped = s.spawn(async function stopped(task) {
        await task.sleep();
      });
      stopped.terminate();
      await assert.rejects(stopped.finish({ timeout: LIMIT }));
    });
    const errors = records.filter((r) => r.level === "error" || r.level === "fatal");
    assert.deepEqual(errors.map(render), []);
  });
});

Deno.test("a throwing channel transform is logged under ['denocos','channel']", async () => {
  await capturing(async (records) => {
    await withScheduler((s) => {
      const ch = new Channel("faulty", {
        scheduler: s,
        transform: () => {
          throw new Error("transform broke");
        },
      });
      assert.equal(ch.send("m"), 0);
    });
    const warnings = records.filter((r) => r.category.join(".") === "denocos.channel");
    assert.equal(warnings.length, 1);
    assert.match(render(warnings[0]), /faulty/);
    assert.match(render(warnings[0]), /transform broke/);
  });
});
