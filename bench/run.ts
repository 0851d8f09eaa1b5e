/**
 * `deno task bench`: runs every benchmark shape in `bench/shapes/` as its own
 * program (3 runs each), prints one markdown table of the medians next to
 * pycos's figures and the targets of BENCHMARKS.md, writes
 * `bench/results/latest.json`, then runs the `Deno.bench` micro-benchmarks of
 * `bench/core_bench.ts`.
 *
 * A shape is any `bench/shapes/bN_name.ts`; it prints one JSON object per
 * measured row on stdout, e.g.
 * `{"id":"B2","row":"burst","value":1.2e7,"unit":"msgs/s","pycos":"235k","target":"≥ 4.5M"}`.
 * A row may carry `"met": true | false` when its target is not a plain
 * `≤`/`≥` bound; otherwise the runner checks the median against the target.
 * Modules a shape needs (workers, helpers) go in a subdirectory or start
 * with `_`, so they are not run as shapes. A shape that crashes, hangs or
 * prints no row becomes an error row; the runner goes on with the others.
 *
 * Flags: `--shapes-only` (skip the micro-benchmarks), `--filter <text>`
 * (shapes whose id or file name contains it, e.g. `--filter B2`), `--runs <n>`
 * (default 3), `--timeout <seconds>` per run (default 300).
 *
 * The runner itself needs `--allow-read --allow-write --allow-run` (and
 * `--allow-env` to pass `NO_COLOR`); shapes run with `SHAPE_FLAGS`.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** The flags every shape runs with: enough for sockets, pipes, files and workers. */
export const SHAPE_FLAGS: readonly string[] = [
  "--unstable-net",
  "--unstable-worker-options",
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--v8-flags=--expose-gc",
];

/** One row as a shape prints it. */
export interface ShapeRow {
  id: string;
  row: string;
  value: number;
  unit: string;
  pycos?: string;
  target?: string;
  met?: boolean;
  [extra: string]: unknown;
}

/** One row of the summary: the medians over the runs. */
export interface SummaryRow {
  id: string;
  row: string;
  unit: string;
  median: number | null;
  values: number[];
  pycos: string;
  target: string;
  met: boolean | null;
  shape: string;
  date: string;
  error?: string;
  extras?: Record<string, number>;
}

interface ShapeRun {
  rows: ShapeRow[];
  error?: string;
  seconds: number;
}

const root = new URL("../", import.meta.url);
const shapesDir = new URL("bench/shapes/", root);
const resultsFile = new URL("bench/results/latest.json", root);

/** The shape files, ordered by benchmark number. */
async function discoverShapes(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(shapesDir)) {
    if (entry.isFile && /^b\d+_[\w-]*\.ts$/i.test(entry.name)) names.push(entry.name);
  }
  const num = (n: string): number => Number(n.match(/^b(\d+)/i)![1]);
  return names.sort((a, b) => num(a) - num(b) || a.localeCompare(b));
}

/** `b4_tcp_echo.ts` → `B4`, for error rows of shapes that printed nothing. */
function idOf(file: string): string {
  const m = file.match(/^b(\d+)/i);
  return m ? `B${m[1]}` : file;
}

function stripAnsi(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

function isRow(x: unknown): x is ShapeRow {
  if (typeof x !== "object" || x === null) return false;
  const r = x as Record<string, unknown>;
  return typeof r.id === "string" && typeof r.row === "string" && typeof r.value === "number" &&
    typeof r.unit === "string";
}

/** Runs one shape once as a subprocess and collects its rows. */
async function runShape(file: string, timeoutSeconds: number): Promise<ShapeRun> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutSeconds * 1000);
  const t0 = performance.now();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...SHAPE_FLAGS, `bench/shapes/${file}`],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    const rows: ShapeRow[] = [];
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const text = line.trim();
      if (!text.startsWith("{")) continue;
      try {
        const parsed: unknown = JSON.parse(text);
        if (isRow(parsed)) rows.push(parsed);
      } catch {
        // Not a row: shapes may print other JSON-looking text.
      }
    }
    let error: string | undefined;
    if (timedOut) error = `timed out after ${timeoutSeconds} s`;
    else if (!out.success) {
      const lines = stripAnsi(new TextDecoder().decode(out.stderr)).split("\n")
        .map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("at "));
      const why = lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? "";
      error = `exit code ${out.code}${out.signal ? ` (${out.signal})` : ""}: ${why}`.slice(0, 240);
    } else if (rows.length === 0) error = "printed no result row";
    return { rows, error, seconds };
  } catch (e) {
    return { rows: [], error: String(e), seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearTimeout(timer);
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const SUFFIX: Record<string, number> = { k: 1e3, K: 1e3, M: 1e6, G: 1e9 };

/** "12.1k" → 12100, "4.5M" → 4.5e6, "0.25 s" → 0.25, "1.7 KB" → 1700. */
export function parseQuantity(text: string): number | undefined {
  const m = text.trim().match(/^([\d.,]+)\s*([kKMG])?/);
  if (m === null) return undefined;
  const n = Number(m[1].replaceAll(",", ""));
  if (!Number.isFinite(n)) return undefined;
  return n * (m[2] ? SUFFIX[m[2]] : 1);
}

/**
 * Checks `value` against a target such as "≥ 4.5M", "≤ 0.25 s", "≤ 600 B" or
 * "≥ 4× pycos" (with the row's pycos figure). `null` when the target says
 * more than one plain bound (the shape must then report `met` itself).
 */
export function meetsTarget(value: number, target: string, pycos: string): boolean | null {
  const m = target.trim().match(
    /^(≤|≥|<=|>=)\s*([\d.,]+\s*[kKMG]?)\s*(?:(×|x)\s*pycos|[a-zA-Zµ/%]+(?:\/[a-z]+)?)?\s*$/,
  );
  if (m === null) return null;
  let bound = parseQuantity(m[2]);
  if (bound === undefined) return null;
  if (m[3] !== undefined) {
    const base = parseQuantity(pycos);
    if (base === undefined) return null;
    bound *= base;
  }
  return m[1] === "≤" || m[1] === "<=" ? value <= bound : value >= bound;
}

/** A median for the table: rates with k/M, seconds with ms precision, bytes whole. */
export function formatValue(value: number, unit: string): string {
  if (unit.endsWith("/s")) {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
    return value.toFixed(0);
  }
  if (unit === "s") return value.toFixed(3);
  if (unit === "B" || unit === "bytes") return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(3)).toLocaleString("en-US");
}

/** Folds the runs of one shape into summary rows (errors become rows too). */
function summarize(file: string, runs: ShapeRun[], date: string): SummaryRow[] {
  const byKey = new Map<string, { first: ShapeRow; values: number[]; mets: boolean[] }>();
  for (const run of runs) {
    for (const r of run.rows) {
      const key = `${r.id}\u0000${r.row}`;
      let entry = byKey.get(key);
      if (entry === undefined) byKey.set(key, entry = { first: r, values: [], mets: [] });
      entry.values.push(r.value);
      if (typeof r.met === "boolean") entry.mets.push(r.met);
    }
  }
  const out: SummaryRow[] = [];
  for (const { first, values, mets } of byKey.values()) {
    const med = median(values)!;
    const pycos = first.pycos ?? "—";
    const target = first.target ?? "—";
    const met = mets.length > 0
      ? mets.filter((x) => x).length * 2 > mets.length
      : meetsTarget(med, target, pycos);
    const extras: Record<string, number> = {};
    for (const k of Object.keys(first)) {
      if (["id", "row", "value", "unit", "pycos", "target", "met"].includes(k)) continue;
      const xs = runs.flatMap((run) =>
        run.rows.filter((r) => r.id === first.id && r.row === first.row && typeof r[k] === "number")
          .map((r) => r[k] as number)
      );
      const m = median(xs);
      if (m !== null) extras[k] = m;
    }
    out.push({
      id: first.id,
      row: first.row,
      unit: first.unit,
      median: med,
      values,
      pycos,
      target,
      met,
      shape: file,
      date,
      extras,
    });
  }
  const errors = runs.map((r) => r.error).filter((e): e is string => e !== undefined);
  if (errors.length > 0) {
    out.push({
      id: out[0]?.id ?? idOf(file),
      row: `error in ${errors.length} of ${runs.length} runs`,
      unit: "",
      median: null,
      values: [],
      pycos: "—",
      target: "—",
      met: null,
      shape: file,
      date,
      error: errors[0],
    });
  }
  return out;
}

function escapeCell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** The markdown table of the summary. */
export function markdownTable(rows: SummaryRow[], runs: number): string {
  const lines = [
    "| id | shape/row | denocos median | unit | pycos | target | met? |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    if (r.error !== undefined) {
      lines.push(`| ${r.id} | ${escapeCell(`${r.row}: ${r.error}`)} | — | | — | — | — |`);
      continue;
    }
    const partial = r.values.length < runs ? ` (${r.values.length} of ${runs} runs)` : "";
    // Rows measured against a bare reference (B1: the runtime's floor) in the
    // same run show that ratio.
    const ratio = r.extras?.ratio !== undefined && /bare|floor/.test(r.target)
      ? `; ratio ${r.extras.ratio.toFixed(3)}`
      : "";
    const met = r.met === null ? "—" : r.met ? "yes" : "**no**";
    lines.push(
      `| ${r.id} | ${escapeCell(r.row)} | ${formatValue(r.median!, r.unit)}${partial}${ratio} | ${
        escapeCell(r.unit)
      } | ${escapeCell(r.pycos)} | ${escapeCell(r.target)} | ${met} |`,
    );
  }
  return lines.join("\n");
}

async function tryCommand(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, cwd: root, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps, from the last file, the rows of shapes that still exist but were not
 * run this time (a `--filter` run).
 */
async function previousRows(skip: Set<string>, existing: Set<string>): Promise<SummaryRow[]> {
  try {
    const old = JSON.parse(await Deno.readTextFile(resultsFile)) as { rows?: SummaryRow[] };
    return (old.rows ?? []).filter((r) => !skip.has(r.shape) && existing.has(r.shape));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    args: Deno.args,
    options: {
      "shapes-only": { type: "boolean", default: false },
      filter: { type: "string" },
      runs: { type: "string", default: "3" },
      timeout: { type: "string", default: "300" },
    },
  });
  const runs = Number(flags.runs);
  const timeout = Number(flags.timeout);
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs: ${flags.runs}`);
  if (!(timeout > 0)) throw new RangeError(`--timeout: ${flags.timeout}`);
  const filter = flags.filter?.toLowerCase();

  const all = await discoverShapes();
  const shapes = filter === undefined
    ? all
    : all.filter((f) => f.toLowerCase().includes(filter) || idOf(f).toLowerCase() === filter);
  if (shapes.length === 0) console.error(`no shape matches '${flags.filter}' (have: ${all})`);

  const date = new Date().toISOString();
  const rows: SummaryRow[] = [];
  for (const file of shapes) {
    const shapeRuns: ShapeRun[] = [];
    for (let i = 1; i <= runs; i++) {
      const run = await runShape(file, timeout);
      shapeRuns.push(run);
      const what = run.error ?? run.rows.map((r) => `${r.row}=${formatValue(r.value, r.unit)}`)
        .join(", ");
      console.error(`${file} run ${i}/${runs} (${run.seconds.toFixed(1)} s): ${what}`);
    }
    rows.push(...summarize(file, shapeRuns, date));
  }

  console.log(
    `\nShapes: median of ${runs} runs, ${navigator.hardwareConcurrency} CPUs, deno ${Deno.version.deno}\n`,
  );
  console.log(markdownTable(rows, runs));

  const kept = filter === undefined ? [] : await previousRows(new Set(shapes), new Set(all));
  const result = {
    date,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    commit: await tryCommand("git", ["rev-parse", "--short", "HEAD"]),
    runs,
    shapeFlags: SHAPE_FLAGS,
    rows: [...rows, ...kept],
  };
  await Deno.mkdir(new URL(".", resultsFile), { recursive: true });
  await Deno.writeTextFile(resultsFile, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nwrote ${resultsFile.pathname.slice(root.pathname.length)}`);

  if (!flags["shapes-only"]) {
    console.log("\nMicro-benchmarks: deno bench bench/core_bench.ts\n");
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["bench", "bench/core_bench.ts"],
      cwd: root,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) console.error(`deno bench exited with code ${status.code}`);
  }
}

if (import.meta.main) await main();
