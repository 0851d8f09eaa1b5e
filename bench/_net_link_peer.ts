// The far end of bench/net_link_bench.ts's two-process row: a hub on
// 127.0.0.1 port 0 that prints "listening <port>", counts the messages it
// receives and answers "done" over the link once it has `Deno.args[0]` of them.
import { PeerHub } from "../src/net/_hub.ts";
import { tcpTransport } from "../src/net/transport.ts";

const want = Number(Deno.args[0]);
let got = 0;
const done = new TextEncoder().encode("done");
const hub = await PeerHub.start({
  transport: tcpTransport,
  hostname: "127.0.0.1",
  port: 0,
  identity: { id: `peer-${Deno.pid}`, name: "peer", incarnation: 1 },
  secret: "bench",
  cluster: "bench",
  heartbeatInterval: 500,
  peerTimeout: 2500,
  maxMessageSize: 64 << 20,
  maxQueuedBytes: 64 << 20,
}, {
  online() {},
  offline() {},
  message(link) {
    if (++got === want) {
      got = 0;
      link.send(done);
    }
  },
});
console.log(`listening ${hub.location.port}`);
