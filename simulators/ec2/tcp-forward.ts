import net from 'node:net';

/**
 * A plain TCP forwarder: connections to `listenHost:port` are piped to `targetHost:targetPort`. The
 * simulator uses it so that an instance's public address reaches the same service as its private one.
 */
export interface TcpForwarder {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function forwardTcp(listenHost: string, port: number, targetHost: string, targetPort = port): Promise<TcpForwarder> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  return {
    host: listenHost,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
