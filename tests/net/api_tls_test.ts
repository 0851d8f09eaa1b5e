/** Peers over TLS on 127.0.0.1: `listen({ tls })` and `peer({ caCerts })`. */
import assert from "node:assert/strict";
import { type RemoteTask, Scheduler } from "../../mod.ts";

const fixtures = new URL("../io/fixtures/", import.meta.url);

Deno.test("peers over TLS: locate and deliver; a plain dial to a TLS peer is refused", async () => {
  const [ca, cert, key] = await Promise.all(
    ["ca.pem", "server.pem", "server.key"].map((f) => Deno.readTextFile(new URL(f, fixtures))),
  );
  await using server = new Scheduler();
  const at = await server.listen({ port: 0, secret: "s3cret", tls: { cert, key } });
  const got = server.spawn(async function inbox(task) {
    task.register("inbox");
    return await task.receive();
  });
  await using client = new Scheduler();
  await client.listen({ port: 0, secret: "s3cret" });
  await client.peer({ hostname: at.hostname, port: at.port, caCerts: [ca], timeout: 10_000 });
  const inbox = (await client.locate("inbox", { timeout: 10_000 })) as unknown as RemoteTask;
  assert.equal(await inbox.deliver("over tls", { timeout: 10_000 }), 1);
  assert.equal(await got.finish(), "over tls");
  await using plain = new Scheduler();
  await plain.listen({ port: 0, secret: "s3cret" });
  await assert.rejects(plain.peer({ hostname: at.hostname, port: at.port, timeout: 5000 }));
});
