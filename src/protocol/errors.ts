// Typed errors of the codec. Each has a stable `code` (for logs, tests and the ledger's failure
// classes) and names the MySQL error a client should see, so the gateway never has to guess.
import type { ServerErrorName } from './error-codes.ts';

export type ProtocolErrorCode =
  | 'MOAT_PACKET_MALFORMED'
  | 'MOAT_PACKET_TOO_LARGE'
  | 'MOAT_PACKET_OUT_OF_ORDER'
  | 'MOAT_PROXY_HEADER_INVALID';

const CLIENT_ERROR: Record<ProtocolErrorCode, ServerErrorName> = {
  MOAT_PACKET_MALFORMED: 'ER_HANDSHAKE_ERROR',
  MOAT_PACKET_TOO_LARGE: 'ER_NET_PACKET_TOO_LARGE',
  MOAT_PACKET_OUT_OF_ORDER: 'ER_NET_PACKETS_OUT_OF_ORDER',
  MOAT_PROXY_HEADER_INVALID: 'ER_HANDSHAKE_ERROR',
};

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /** The MySQL error the peer is told about, when one is told at all. */
  readonly serverError: ServerErrorName;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.serverError = CLIENT_ERROR[code];
  }
}

export function malformed(what: string): ProtocolError {
  return new ProtocolError('MOAT_PACKET_MALFORMED', `malformed packet: ${what}`);
}
