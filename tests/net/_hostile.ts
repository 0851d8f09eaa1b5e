/**
 * A hostile peer for the API tests: it knows the secret (so it passes the
 * handshake) and then speaks raw API operations through the internal codec,
 * as a buggy or malicious peer would.
 *
 * @module
 */
import { MonitorStatus, type Task } from "../../mod.ts";
import { Codec, type TaskRefRecord } from "../../src/net/codec.ts";
import { type Link, PeerHub } from "../../src/net/_hub.ts";
import type { Transport } from "../../src/net/transport.ts";
import { conditions } from "./_hub_util.ts";

/** A task reference as the hostile peer holds it: the raw record. */
export class Ref {
  constructor(readonly record: TaskRefRecord) {}
}

/** A raw peer: `send` queues one operation, `received` holds decoded ones. */
export interface Hostile extends AsyncDisposable {
  hub: PeerHub;
  link: Link;
  id: string;
  codec: Codec;
  received: unknown[][];
  send(op: unknown[]): void;
  /** Resolves with the first received operation `match` accepts (10 s limit). */
  next(match: (m: unknown[]) => boolean): Promise<unknown[]>;
  /** Whether the link to the target is still up. */
  readonly online: boolean;
  /** Resolves once the target has closed the link (10 s limit). */
  closed(): Promise<void>;
}

let count = 0;

/** Connects a raw peer on `transport` to the scheduler at `to`. */
export async function hostile(
  transport: Transport,
  to: { hostname: string; port: number },
  options: { secret?: string; cluster?: string; peerTimeout?: number } = {},
): Promise<Hostile> {
  const id = `evil${count++}`;
  const codec = new Codec({
    isTask: (v) => v instanceof Ref,
    isChannel: () => false,
    encodeTask: (v) => (v as Ref).record,
    decodeTask: (r) => new Ref({ ...r, location: { ...r.location } }), // records are reused
    encodeChannel: () => {
      throw new TypeError("no channels here");
    },
    decodeChannel: (r) => ({ ...r, location: { ...r.location } }),
  });
  const received: unknown[][] = [];
  const { kick, until } = conditions();
  let offline = false;
  const hub = await PeerHub.start({
    transport,
    hostname: "127.0.0.1",
    port: 0,
    identity: { id, name: id, incarnation: 1 },
    secret: options.secret ?? "s3cret",
    cluster: options.cluster ?? "denocos",
    heartbeatInterval: 50,
    peerTimeout: options.peerTimeout ?? 300,
    maxMessageSize: 64 << 20,
    maxQueuedBytes: 64 << 20,
  }, {
    online() {},
    offline() {
      offline = true;
      kick();
    },
    message(_link, body) {
      received.push(codec.decode(body.slice()) as unknown[]);
      kick();
    },
  });
  const link = await hub.connect(to, { timeout: 10_000 });
  const wait = (what: string, pred: () => boolean) => until(`hostile peer: ${what}`, pred);
  return {
    hub,
    link,
    id,
    codec,
    received,
    send: (op) => {
      link.send(codec.encode(op).slice());
    },
    async next(match) {
      let found: unknown[] | undefined;
      await wait("a matching operation", () => (found = received.find(match)) !== undefined);
      received.splice(received.indexOf(found!), 1);
      return found!;
    },
    get online() {
      return !offline && link.online;
    },
    closed: () => wait("the link to close", () => offline),
    [Symbol.asyncDispose]: () => hub.close(),
  };
}

/** A MonitorStatus naming `ref` as the task that ended, as a peer would send it. */
export function fakeStatus(ref: Ref, type: "finished" | "failed" = "finished"): MonitorStatus {
  return new MonitorStatus(ref as unknown as Task, type, "forged");
}
