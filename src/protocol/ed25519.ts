// MariaDB's client_ed25519 authentication (auth_ed25519 plugin): the client signs the server's
// 32-byte nonce with an Ed25519 key whose "seed" is the password itself, of any length
// (SHA-512(password) expanded as in RFC 8032 §5.1.5). node:crypto only accepts 32-byte seeds, so
// the curve arithmetic is done here with BigInt: one signature per login, a few milliseconds.
// The stored authentication_string is the public key in base64 without padding, which also lets
// `moat check` recognise an account whose password is empty.
import { createHash } from 'node:crypto';

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = mod(result * b);
    b = mod(b * b);
    e >>= 1n;
  }
  return result;
}

const inv = (a: bigint): bigint => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const D2 = mod(2n * D);

/** A point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z (RFC 8032 §5.1.4). */
type Point = readonly [bigint, bigint, bigint, bigint];

const BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202n;
const BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960n;
const BASE: Point = [BX, BY, 1n, mod(BX * BY)];
const IDENTITY: Point = [0n, 1n, 1n, 0n];

// The unified addition formula is complete on this curve, so it also doubles.
function add(p: Point, q: Point): Point {
  const a = mod((p[1] - p[0]) * (q[1] - q[0]));
  const b = mod((p[1] + p[0]) * (q[1] + q[0]));
  const c = mod(p[3] * D2 * q[3]);
  const d = mod(p[2] * 2n * q[2]);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function multiply(k: bigint, p: Point): Point {
  let result = IDENTITY;
  let addend = p;
  for (let n = k; n > 0n; n >>= 1n) {
    if (n & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function encode(p: Point): Buffer {
  const zi = inv(p[2]);
  const x = mod(p[0] * zi);
  const y = mod(p[1] * zi);
  const out = littleEndian(y);
  if (x & 1n) out[31]! |= 0x80;
  return out;
}

function littleEndian(n: bigint): Buffer {
  const out = Buffer.alloc(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function fromLittleEndian(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

const sha512 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
};

function expand(password: string): { scalar: bigint; prefix: Buffer; publicKey: Buffer } {
  const h = sha512(Buffer.from(password, 'utf8'));
  const a = Buffer.from(h.subarray(0, 32));
  a[0]! &= 248;
  a[31]! &= 127;
  a[31]! |= 64;
  const scalar = fromLittleEndian(a);
  return { scalar, prefix: h.subarray(32), publicKey: encode(multiply(scalar, BASE)) };
}

/** The 64-byte answer to the server's nonce: R ‖ S. */
export function ed25519Sign(password: string, message: Uint8Array): Buffer {
  const { scalar, prefix, publicKey } = expand(password);
  const r = mod(fromLittleEndian(sha512(prefix, message)), L);
  const R = encode(multiply(r, BASE));
  const k = mod(fromLittleEndian(sha512(R, publicKey, message)), L);
  return Buffer.concat([R, littleEndian(mod(r + k * scalar, L))]);
}

/** What MariaDB stores for `IDENTIFIED VIA ed25519 USING PASSWORD(password)`. */
export function ed25519StoredKey(password: string): string {
  return expand(password).publicKey.toString('base64').replace(/=+$/, '');
}
