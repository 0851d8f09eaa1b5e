/**
 * Discovery wired through the API: schedulers that `listen({ discover: true })`
 * in a network namespace of their own find each other and `Task.locate`
 * works across them (skipped, with a printed reason, where no namespace can
 * be had). The fixture runs as a child process that must end by itself.
 */
import assert from "node:assert/strict";
import { dec, namespaceUnavailable, output } from "../io/_net_util.ts";

const setup = "ip link set lo up && ip link set lo multicast on && " +
  "ip route add 224.0.0.0/4 dev lo src 127.0.0.1";

const noNamespace = await namespaceUnavailable(setup);
if (noNamespace !== undefined) console.log(`skipping the API discovery test: ${noNamespace}`);

Deno.test({
  name: "discover: true: two schedulers find each other, locate works across them, finish ends all",
  ignore: noNamespace !== undefined,
  async fn() {
    const fixture = new URL("./fixtures/discover_schedulers.ts", import.meta.url).pathname;
    const out = await output("unshare", {
      args: [
        "-rn",
        "sh",
        "-c",
        `${setup} && exec "$0" run --no-prompt --unstable-net ` +
        `--allow-net=0.0.0.0:9705,239.255.97.5:9705,127.0.0.1 "$1"`,
        Deno.execPath(),
        fixture,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const stdout = dec.decode(out.stdout);
    assert.equal(out.code, 0, stdout + dec.decode(out.stderr));
    assert.deepEqual(stdout.trim().split("\n"), [
      "located: true",
      "delivered: 1",
      "received: hello",
      "b peers: true",
      "other peers: 0",
      "finished",
    ]);
  },
});
