// The "parses nothing" Node baseline: a bare TCP relay, `client.pipe(backend).pipe(client)`.
// Whatever moat costs beyond this is the price of watching the stream.
//   node bench/node-pipe.ts --listen 127.0.0.1:PORT --backend 127.0.0.1:PORT
import net from 'node:net';
import { parseArgs } from 'node:util';

function hostPort(s: string | undefined, flag: string): { host: string; port: number } {
  const m = s?.match(/^(.*):(\d+)$/);
  if (!m) throw new Error(`${flag} HOST:PORT is required`);
  return { host: m[1]!, port: Number(m[2]) };
}

const { values } = parseArgs({ options: { listen: { type: 'string' }, backend: { type: 'string' } } });
const listen = hostPort(values.listen, '--listen');
const backend = hostPort(values.backend, '--backend');

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ ...backend, noDelay: true });
  client.pipe(upstream).pipe(client);
  // pipe() does not forward errors; a reset on one leg must close the other.
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(listen.port, listen.host);
process.on('SIGTERM', () => process.exit(0));
