import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { AvailabilitySampler, type AvailabilitySource } from "../../src/compute/_availability.ts";
import { NodeAvailability } from "../../src/compute/status_message.ts";

const node = { hostname: "127.0.0.1", port: 9705 };

function fake(over: Partial<AvailabilitySource>): AvailabilitySource {
  return {
    loadavg: () => [1, 0.5, 0.25],
    systemMemoryInfo: () => ({ total: 8 * 2 ** 30, available: 2 * 2 ** 30 }),
    cores: () => 4,
    ...over,
  };
}

async function capturing(fn: (records: LogRecord[]) => void | Promise<void>): Promise<void> {
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

Deno.test("availability: cpu is load1 / cores, memory is available bytes and fraction", () => {
  const a = new AvailabilitySampler({ source: fake({}) }).sample(node);
  assert.ok(a instanceof NodeAvailability);
  assert.deepEqual(a.node, node);
  assert.equal(a.load, 1);
  assert.equal(a.cpu, 0.25);
  assert.equal(a.memory, 2 * 2 ** 30);
  assert.equal(a.memoryFraction, 0.25);
});

Deno.test("availability: cpu is capped at 1 when the load exceeds the cores", () => {
  const a = new AvailabilitySampler({ source: fake({ loadavg: () => [9, 9, 9], cores: () => 2 }) })
    .sample(node);
  assert.equal(a.cpu, 1);
  assert.equal(a.load, 9);
});

Deno.test("availability: nonsense from the source becomes null, not NaN", () => {
  const a = new AvailabilitySampler({
    source: fake({
      loadavg: () => [NaN],
      systemMemoryInfo: () => ({ total: 0, available: -1 }),
    }),
  }).sample(node);
  assert.deepEqual([a.cpu, a.load, a.memory, a.memoryFraction], [null, null, null, null]);
  const b = new AvailabilitySampler({
    source: fake({ cores: () => 0, systemMemoryInfo: () => ({ total: 0, available: 5 }) }),
  }).sample(node);
  assert.equal(b.load, 1);
  assert.equal(b.cpu, null);
  assert.equal(b.memory, 5);
  assert.equal(b.memoryFraction, null);
});

Deno.test("availability: a failing source gives nulls, never throws, and logs once per kind", async () => {
  await capturing((records) => {
    const denied = () => {
      throw new Deno.errors.NotCapable("Requires sys access");
    };
    const s = new AvailabilitySampler({
      source: fake({ loadavg: denied, systemMemoryInfo: denied }),
    });
    for (let i = 0; i < 5; i++) {
      const a = s.sample(node);
      assert.deepEqual([a.cpu, a.load, a.memory, a.memoryFraction], [null, null, null, null]);
    }
    const warnings = records.filter((r) => r.category.join(".") === "denocos.compute.availability");
    assert.equal(warnings.length, 2);
    assert.deepEqual(warnings.map((r) => r.properties.kind).sort(), [
      "loadavg",
      "systemMemoryInfo",
    ]);
  });
});

Deno.test("availability: the real source matches this process's sys permission", () => {
  const granted =
    Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state === "granted" &&
    Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state === "granted";
  const a = new AvailabilitySampler().sample(node);
  if (granted) {
    assert.equal(typeof a.load, "number");
    assert.equal(typeof a.memory, "number");
  } else {
    assert.equal(a.load, null);
    assert.equal(a.memory, null);
  }
});

async function sampleIn(flags: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-lock",
      ...flags,
      new URL("./fixtures/sample_availability.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("availability: --allow-sys=loadavg,systemMemoryInfo is exactly what a real sample needs", async () => {
  const a = await sampleIn(["--allow-sys=loadavg,systemMemoryInfo"]);
  assert.equal(typeof a.load, "number");
  assert.equal(typeof a.cpu, "number");
  assert.ok((a.cpu as number) >= 0 && (a.cpu as number) <= 1);
  assert.ok((a.memory as number) > 0);
  assert.ok((a.memoryFraction as number) > 0 && (a.memoryFraction as number) <= 1);
  const none = await sampleIn([]);
  assert.deepEqual([none.cpu, none.load, none.memory, none.memoryFraction], [
    null,
    null,
    null,
    null,
  ]);
});
