// The fleet's atomic operations, as Lua scripts run by Redis: a counter changes and its change is
// published in one step, so every instance sees the same sequence of values, and the instance
// whose error makes the count reach max_connect_errors is the one (and only one) that blocks.
//
// Messages on the channel are JSON: {t:'ce', ip, n} {t:'cc', k, n} {t:'block', block}
// {t:'unblock', ip} {t:'flush'} {t:'reload', n} {t:'set', name, value}, each with `from` (the
// instance that caused it).
import type { Redis } from 'ioredis';

/**
 * Both counters start alike: KEYS[1] the counter; ARGV[1] reset (0|1), ARGV[2] increment (negative:
 * a decrement that stops at 0, and the key goes at 0), ARGV[3] ttlMs.
 */
const COUNT = `
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
local n
local inc = tonumber(ARGV[2])
if inc > 0 then
  n = redis.call('INCRBY', KEYS[1], inc)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif inc < 0 then
  n = tonumber(redis.call('GET', KEYS[1]) or '0') + inc
  if n <= 0 then
    n = 0
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], n, 'KEEPTTL')
  end
else
  n = tonumber(redis.call('GET', KEYS[1]) or '0')
end`;

/**
 * KEYS: counter, block. ARGV: reset (0|1), increment, ttlMs, max (0: never block), blockMs (0:
 * until unblocked), now, ip, from, channel. Returns [count, blocked (0|1)].
 */
const CONNECT_ERRORS = `${COUNT}
redis.call('PUBLISH', ARGV[9], cjson.encode({t='ce', ip=ARGV[7], n=n, from=ARGV[8]}))
local max = tonumber(ARGV[4])
if max > 0 and n >= max and redis.call('EXISTS', KEYS[2]) == 0 then
  local now = tonumber(ARGV[6])
  local ms = tonumber(ARGV[5])
  local b = {ip=ARGV[7], reason='max_connect_errors', by='moat', since=now}
  if ms > 0 then b['until'] = now + ms end
  local j = cjson.encode(b)
  if ms > 0 then redis.call('SET', KEYS[2], j, 'PX', ms) else redis.call('SET', KEYS[2], j) end
  redis.call('PUBLISH', ARGV[9], cjson.encode({t='block', block=b, from=ARGV[8]}))
  return {n, 1}
end
return {n, 0}
`;

/** KEYS: counter. ARGV: reset (0|1), increment, ttlMs, key, from, channel. Returns the count. */
const FAILED_LOGINS = `${COUNT}
redis.call('PUBLISH', ARGV[6], cjson.encode({t='cc', k=ARGV[4], n=n, from=ARGV[5]}))
return n
`;

/** KEYS: counter. ARGV: value, ttlMs. Raises the counter to `value` (a merge after Redis lost its data). */
const RAISE = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local v = tonumber(ARGV[1])
if v > cur then redis.call('SET', KEYS[1], v, 'PX', ARGV[2]) return v end
return cur
`;

/**
 * KEYS: block. ARGV: block JSON, ms (0: none), only-if-absent (0|1), from, channel. Sets and
 * publishes; returns 1, or 0 when only-if-absent found one.
 */
const BLOCK = `
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ms = tonumber(ARGV[2])
if ms > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ms) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[5], '{"t":"block","from":' .. cjson.encode(ARGV[4]) .. ',"block":' .. ARGV[1] .. '}')
return 1
`;

/** KEYS: block, counter. ARGV: ip, from, channel. Lifts the block and its count, and says so. */
const UNBLOCK = `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[3], cjson.encode({t='unblock', ip=ARGV[1], from=ARGV[2]}))
redis.call('PUBLISH', ARGV[3], cjson.encode({t='ce', ip=ARGV[1], n=0, from=ARGV[2]}))
return 1
`;

/** KEYS: variables. ARGV: name, value, only-if-absent (0|1), from, channel. Stores and publishes. */
const SET_VARIABLE = `
if ARGV[3] == '1' then
  if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('PUBLISH', ARGV[5], cjson.encode({t='set', name=ARGV[1], value=tonumber(ARGV[2]), from=ARGV[4]}))
return 1
`;

/** KEYS: reloads. ARGV: from, channel. Counts the reload and publishes it with its number. */
const RELOAD = `
local n = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[2], cjson.encode({t='reload', n=n, from=ARGV[1]}))
return n
`;

export interface FleetScripts {
  connectErrors(keys: [string, string], args: Array<string | number>): Promise<[number, number]>;
  failedLogins(key: string, args: Array<string | number>): Promise<number>;
  raise(key: string, value: number, ttlMs: number): Promise<number>;
  block(key: string, args: Array<string | number>): Promise<number>;
  unblock(keys: [string, string], args: Array<string | number>): Promise<number>;
  setVariable(key: string, args: Array<string | number>): Promise<number>;
  reload(key: string, args: Array<string | number>): Promise<number>;
}

type Commands = Redis & {
  moatConnectErrors(k1: string, k2: string, ...args: Array<string | number>): Promise<[number, number]>;
  moatFailedLogins(k1: string, ...args: Array<string | number>): Promise<number>;
  moatRaise(k1: string, ...args: Array<string | number>): Promise<number>;
  moatBlock(k1: string, ...args: Array<string | number>): Promise<number>;
  moatUnblock(k1: string, k2: string, ...args: Array<string | number>): Promise<number>;
  moatSetVariable(k1: string, ...args: Array<string | number>): Promise<number>;
  moatReload(k1: string, ...args: Array<string | number>): Promise<number>;
};

/** Registers the scripts on a connection (EVALSHA, falling back to EVAL once per script load). */
export function fleetScripts(redis: Redis): FleetScripts {
  redis.defineCommand('moatConnectErrors', { numberOfKeys: 2, lua: CONNECT_ERRORS });
  redis.defineCommand('moatFailedLogins', { numberOfKeys: 1, lua: FAILED_LOGINS });
  redis.defineCommand('moatRaise', { numberOfKeys: 1, lua: RAISE });
  redis.defineCommand('moatBlock', { numberOfKeys: 1, lua: BLOCK });
  redis.defineCommand('moatUnblock', { numberOfKeys: 2, lua: UNBLOCK });
  redis.defineCommand('moatSetVariable', { numberOfKeys: 1, lua: SET_VARIABLE });
  redis.defineCommand('moatReload', { numberOfKeys: 1, lua: RELOAD });
  const r = redis as Commands;
  return {
    connectErrors: (keys, args) => r.moatConnectErrors(keys[0], keys[1], ...args),
    failedLogins: (key, args) => r.moatFailedLogins(key, ...args),
    raise: (key, value, ttlMs) => r.moatRaise(key, value, ttlMs),
    block: (key, args) => r.moatBlock(key, ...args),
    unblock: (keys, args) => r.moatUnblock(keys[0], keys[1], ...args),
    setVariable: (key, args) => r.moatSetVariable(key, ...args),
    reload: (key, args) => r.moatReload(key, ...args),
  };
}
