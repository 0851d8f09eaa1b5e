import assert from "node:assert/strict";
import { Heartbeats, type HeartbeatTarget } from "../../src/net/_heartbeats.ts";
import { FakeClock } from "./_fake_clock.ts";

/** A link's counters; `sent` counts heartbeats, `deaths` the silences reported. */
class Target implements HeartbeatTarget {
  framesWritten = 0;
  framesReceived = 0;
  sent: number[] = [];
  deaths: number[] = [];
  constructor(readonly clock: FakeClock) {}
  sendHeartbeat(): void {
    this.framesWritten++;
    this.sent.push(this.clock.now());
  }
  dead(silence: number): void {
    this.deaths.push(silence);
  }
}

const INTERVAL = 500;
const TIMEOUT = 2500;

function setup() {
  const clock = new FakeClock();
  const target = new Target(clock);
  const hb = new Heartbeats(target, { interval: INTERVAL, timeout: TIMEOUT, clock });
  return { clock, target, hb };
}

Deno.test("heartbeats: an idle link sends one heartbeat per interval at most 1.5 intervals apart", () => {
  const { clock, target, hb } = setup();
  hb.start();
  for (let i = 0; i < 40; i++) {
    clock.advance(50);
    target.framesReceived++; // the peer is alive
  }
  hb.stop();
  assert.ok(target.sent.length >= 3, `sent ${target.sent.length}`);
  let last = 0;
  for (const at of target.sent) {
    assert.ok(at - last >= INTERVAL && at - last <= 1.5 * INTERVAL, `gap ${at - last}`);
    last = at;
  }
  assert.deepEqual(target.deaths, []);
  assert.equal(clock.pending, 0);
});

Deno.test("heartbeats: a busy link sends none", () => {
  const { clock, target, hb } = setup();
  hb.start();
  for (let i = 0; i < 100; i++) {
    clock.advance(100);
    target.framesWritten++;
    target.framesReceived++;
  }
  hb.stop();
  assert.deepEqual(target.sent, []);
  assert.deepEqual(target.deaths, []);
});

Deno.test("heartbeats: silence is declared after timeout and before timeout + interval", () => {
  const { clock, target, hb } = setup();
  hb.start();
  // Alive for a while, then the last frame at 1234 ms.
  for (let t = 0; t < 1234; t += 10) {
    clock.advance(10);
    target.framesReceived++;
  }
  const lastFrame = clock.now();
  let declaredAt = -1;
  target.dead = (silence) => {
    declaredAt = clock.now();
    target.deaths.push(silence);
  };
  while (declaredAt < 0 && clock.now() < 60_000) clock.advance(1);
  const since = declaredAt - lastFrame;
  assert.ok(since >= TIMEOUT && since <= TIMEOUT + INTERVAL, `declared ${since} ms after`);
  assert.equal(target.deaths.length, 1);
  assert.ok(target.deaths[0] <= since && target.deaths[0] >= TIMEOUT);
  assert.equal(hb.running, false);
  assert.equal(clock.pending, 0, "stopped itself");
  clock.advance(10_000);
  assert.equal(target.deaths.length, 1, "declared once");
});

Deno.test("heartbeats: frames arriving now and then keep the peer alive", () => {
  const { clock, target, hb } = setup();
  hb.start();
  for (let i = 0; i < 50; i++) {
    clock.advance(TIMEOUT - 300);
    target.framesReceived++;
  }
  hb.stop();
  assert.deepEqual(target.deaths, []);
});

Deno.test("heartbeats: a stalled process does not declare its peer dead", () => {
  const { clock, target, hb } = setup();
  hb.start();
  clock.advance(100);
  // The event loop is blocked for 10 s: the timer fires once, late.
  clock.stall(10_000);
  assert.deepEqual(target.deaths, [], "a late tick is a stall, not silence");
  target.framesReceived++; // the frames that waited behind the stall
  for (let i = 0; i < 20; i++) {
    clock.advance(100);
    target.framesReceived++;
  }
  assert.deepEqual(target.deaths, []);
  hb.stop();
});

Deno.test("heartbeats: stop is idempotent, start twice keeps one timer, bad options throw", () => {
  const { clock, hb } = setup();
  hb.start();
  hb.start();
  assert.equal(clock.pending, 1);
  hb.stop();
  hb.stop();
  assert.equal(clock.pending, 0);
  assert.throws(
    () => new Heartbeats(new Target(clock), { interval: 0, timeout: 1 }),
    RangeError,
  );
});
