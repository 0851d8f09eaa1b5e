/** The network errors: classes told apart by `instanceof`, names set, fields kept. */
import assert from "node:assert/strict";
import {
  AuthenticationFailed,
  PeerLost,
  PeerUnreachable,
  ProtocolError,
  RemoteError,
} from "../../src/net/errors.ts";

Deno.test("net errors: each class has its name, message and cause", () => {
  const cause = new Deno.errors.ConnectionRefused("refused");
  for (const C of [PeerUnreachable, AuthenticationFailed, PeerLost, ProtocolError]) {
    const e = new C("what happened", { cause });
    assert.ok(e instanceof Error);
    assert.ok(e instanceof C);
    assert.equal(e.name, C.name);
    assert.equal(e.message, "what happened");
    assert.equal(e.cause, cause);
    assert.ok(String(e).startsWith(`${C.name}: what happened`));
  }
  assert.ok(!(new PeerLost() instanceof PeerUnreachable));
});

Deno.test("net errors: RemoteError keeps the remote name, message and stack", () => {
  const e = new RemoteError("RangeError", "out of range", "RangeError: out of range\n    at f");
  assert.ok(e instanceof RemoteError);
  assert.ok(!(e instanceof RangeError));
  assert.equal(e.name, "RangeError");
  assert.equal(e.remoteName, "RangeError");
  assert.equal(e.message, "out of range");
  assert.equal(e.remoteStack, "RangeError: out of range\n    at f");
  assert.equal(new RemoteError("X", "y").remoteStack, "");
});
