// Binding a server (net or http) to a configured endpoint: the one place that knows how a
// listen error is told apart from a later one, and what address port 0 really bound.
import type { Server } from 'node:net';
import type { Endpoint } from './endpoint.ts';

/**
 * Listens on `endpoint`; rejects with the listen error (EADDRINUSE …). Once listening, later
 * server errors (EMFILE on accept) go to `onError` instead of crashing the process. Resolves with
 * the bound endpoint: a TCP port 0 becomes the port the kernel chose.
 */
export async function bindServer(
  server: Server,
  endpoint: Endpoint,
  onError: (e: Error) => void,
): Promise<Endpoint> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (endpoint.kind === 'unix') server.listen(endpoint.path, done);
    else server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only: false }, done);
  });
  server.on('error', onError);
  return boundEndpoint(server, endpoint);
}

/** The endpoint a listening server is bound to (the configured one for a unix socket). */
export function boundEndpoint(server: Server, endpoint: Endpoint): Endpoint {
  if (endpoint.kind === 'unix') return endpoint;
  const a = server.address();
  if (a === null || typeof a === 'string') return endpoint;
  return { kind: 'tcp', host: endpoint.host, port: a.port };
}
