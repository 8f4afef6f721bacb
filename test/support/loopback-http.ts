/**
 * The host's side of published-port tests: a free port on 127.0.0.1, and an HTTP/1.0 GET of `/` through it. Traffic
 * stays on loopback (portmap forwards it into the test's own netns).
 */
import { connect, createServer, type Server } from 'node:net';

/** A server listening on 127.0.0.1:`port` (0: a port the kernel picks from the ephemeral range), held until closed. */
export function listenOnLoopback(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A high port on 127.0.0.1 that nothing listens on now. */
export async function freeLoopbackPort(): Promise<number> {
  const server = await listenOnLoopback();
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** GET / through 127.0.0.1:`port`; the body, or '' when nothing answered within a second. */
export function getThroughLoopback(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const socket = connect({ host: '127.0.0.1', port, timeout: 1_000 });
    socket.on('connect', () => socket.end('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (d) => (data += d.toString()));
    socket.on('timeout', () => socket.destroy());
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(data.split('\r\n\r\n')[1]?.trim() ?? ''));
  });
}
