// Listener and backend addresses as users write them: "127.0.0.1:3307", "[::1]:3307", "3307"
// (all IPv4 and IPv6 interfaces? no: loopback — a security gateway never listens wide by accident),
// "0.0.0.0:3307", "[::]:3307", "unix:/run/moat/moat.sock".
import { isIP } from 'node:net';

export type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseEndpoint(text: string): Endpoint {
  const s = text.trim();
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (!path.startsWith('/')) throw new Error(`'${text}': a unix socket path must be absolute`);
    return { kind: 'unix', path };
  }
  if (s.startsWith('/')) return { kind: 'unix', path: s };
  let host: string;
  let portText: string;
  if (/^\d+$/.test(s)) {
    host = '127.0.0.1';
    portText = s;
  } else if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') throw new Error(`'${text}': expected [ipv6]:port`);
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (isIP(host) !== 6) throw new Error(`'${text}': '${host}' is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw new Error(`'${text}': expected host:port, [ipv6]:port or unix:/path`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':'))
      throw new Error(`'${text}': write IPv6 addresses in brackets, as [${host}]:${portText}`);
    if (host === '') throw new Error(`'${text}': missing host`);
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) throw new Error(`'${text}': bad port '${portText}'`);
  return { kind: 'tcp', host, port };
}

export function formatEndpoint(e: Endpoint): string {
  if (e.kind === 'unix') return `unix:${e.path}`;
  return isIP(e.host) === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
