/**
 * Internal: what every `denocos` subcommand shares: `H:P` parsing, the
 * cluster secret (`--secret-file` or `DENOCOS_SECRET`, never an argument,
 * which `ps` would show), LogTape to stderr (`--log-level`), usage errors
 * (exit 2) and clean shutdown on SIGINT/SIGTERM.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { configure, getConsoleSink, getTextFormatter, isLogLevel } from "@logtape/logtape";
import type { Location } from "../src/core/_internal.ts";

/** Exit codes: 0 ok, 1 failure, 2 bad usage. */
export const EXIT_FAILURE = 1, EXIT_USAGE = 2;

/**
 * Bad usage: `main.ts` prints its message on one line and exits 2.
 *
 * @example
 * ```ts ignore
 * throw new UsageError("--inputs: no such file 'in.jsonl'");
 * ```
 */
export class UsageError extends Error {
  /** @param message the one-line reason */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses `H:P` (or `[v6]:P`, or `H` alone with `defaultPort`).
 *
 * @example
 * ```ts ignore
 * parseHostPort("127.0.0.1:9706"); // { hostname: "127.0.0.1", port: 9706 }
 * ```
 */
export function parseHostPort(text: string, defaultPort?: number): Location {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
  if (m === null || port === undefined || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`'${text}' is not HOST:PORT`);
  }
  return { hostname: m[1] ?? m[2], port };
}

/** A commander argument parser for `H:P`, defaulting the port. */
export function hostPort(defaultPort: number): (text: string) => Location {
  return (text) => parseHostPort(text, defaultPort);
}

/** A commander argument parser for repeatable `H:P` options. */
export function hostPorts(
  defaultPort: number,
): (text: string, previous?: Location[]) => Location[] {
  return (text, previous) => [...(previous ?? []), parseHostPort(text, defaultPort)];
}

/** A commander argument parser for an integer in `[min, max]`. */
export function integer(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`'${text}' is not an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** Adds the options every subcommand has: `--secret-file` and `--log-level`. */
export function commonOptions(cmd: Command): Command {
  return cmd
    .option(
      "--secret-file <file>",
      "read the cluster secret from FILE (else env DENOCOS_SECRET; default none)",
    )
    .addOption(
      new Option("--log-level <level>", "log to stderr from LEVEL up")
        .choices(["trace", "debug", "info", "warning", "error", "fatal"])
        .default("warning"),
    );
}

/** Options every subcommand has, parsed. */
export interface CommonOptions {
  secretFile?: string;
  logLevel: string;
}

/**
 * The cluster secret: the file's content without its final line break, or
 * `DENOCOS_SECRET`, or `""`. A file that cannot be read is bad usage.
 */
export async function readSecret(options: CommonOptions): Promise<string> {
  if (options.secretFile !== undefined) {
    try {
      return (await Deno.readTextFile(options.secretFile)).replace(/\r?\n$/, "");
    } catch (e) {
      throw new UsageError(`--secret-file: cannot read '${options.secretFile}': ${message(e)}`);
    }
  }
  try {
    return Deno.env.get("DENOCOS_SECRET") ?? "";
  } catch {
    return ""; // no env permission: no secret
  }
}

/** Reads a file the user named; a missing one is bad usage. */
export async function readUserFile(option: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`${option}: cannot read '${path}': ${message(e)}`);
  }
}

/** LogTape: a console sink whose every level writes to stderr (stdout is for results). */
export async function setupLogging(options: CommonOptions): Promise<void> {
  const level = options.logLevel;
  if (!isLogLevel(level)) throw new UsageError(`--log-level: unknown level '${level}'`);
  await configure({
    reset: true,
    sinks: {
      stderr: getConsoleSink({
        formatter: getTextFormatter(),
        levelMap: {
          trace: "error",
          debug: "error",
          info: "error",
          warning: "error",
          error: "error",
          fatal: "error",
        },
      }),
    },
    loggers: [
      { category: ["denocos"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** An error's message on one line. */
export function message(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/\s*\n\s*/g, " ");
}

/**
 * Resolves once SIGINT or SIGTERM arrives; a second one exits at once
 * (130), for a shutdown that hangs.
 */
export function untilSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (signal: Deno.Signal) => () => {
      if (seen) Deno.exit(130);
      seen = true;
      resolve(signal);
    };
    Deno.addSignalListener("SIGINT", on("SIGINT"));
    if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", on("SIGTERM"));
  });
}

/** `H:P` of a location. */
export function hp(l: Location): string {
  return l.hostname.includes(":") ? `[${l.hostname}]:${l.port}` : `${l.hostname}:${l.port}`;
}

/** Reads `--tls-cert` and `--tls-key` (both or neither). */
export async function readTls(
  options: { tlsCert?: string; tlsKey?: string },
): Promise<{ cert: string; key: string } | undefined> {
  if (options.tlsCert === undefined && options.tlsKey === undefined) return undefined;
  if (options.tlsCert === undefined || options.tlsKey === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  return {
    cert: await readUserFile("--tls-cert", options.tlsCert),
    key: await readUserFile("--tls-key", options.tlsKey),
  };
}

/** What {@linkcode listenOptions} adds, parsed. */
export interface ListenCliOptions extends CommonOptions {
  host: string;
  port: number;
  name?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * Adds the options of a command that listens for peers: `--host`, `--port`
 * (default `defaultPort`), `--name`, `--tls-cert` and `--tls-key`.
 */
export function listenOptions(cmd: Command, defaultPort: number): Command {
  return cmd
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "TCP port (0: any free one)", integer(0, 65535), defaultPort)
    .option("--name <name>", "the name peers see (default HOST:PORT)")
    .option("--tls-cert <file>", "serve TLS with this certificate (PEM)")
    .option("--tls-key <file>", "the certificate's key (PEM)");
}

/**
 * What a listening command does first: logging set up, then the secret and
 * the TLS files read, as the settings of its `listen`.
 */
export async function listenSettings(options: ListenCliOptions): Promise<{
  hostname: string;
  port: number;
  name?: string;
  secret: string;
  tls?: { cert: string; key: string };
}> {
  await setupLogging(options);
  return {
    hostname: options.host,
    port: options.port,
    name: options.name,
    secret: await readSecret(options),
    tls: await readTls(options),
  };
}
