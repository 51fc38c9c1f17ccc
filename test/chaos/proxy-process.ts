/**
 * A TCP proxy (test/support/tcp-proxy.ts) in a process of its own, driven over IPC: `cut` / `restore`.
 * The chaos test's own event loop is blocked at times (chaos.ts runs `lcm definitions apply` with
 * spawnSync), and a proxy in it would then stall every connection it carries — an outage nobody asked
 * for. Usage: fork this file with the target port as its argument; it sends `{ url }` once listening.
 */
import { startTcpProxy } from '../support/tcp-proxy.ts';

const proxy = await startTcpProxy({ port: Number(process.argv[2]) });
process.send?.({ url: proxy.url });
process.on('message', (m: unknown) => {
  if (m === 'cut') proxy.cut();
  else if (m === 'restore') proxy.restore();
  process.send?.({ done: m });
});
process.on('disconnect', () => void proxy.close().finally(() => process.exit(0)));
