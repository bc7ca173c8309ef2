// Reading and validating configuration: a YAML file, overridden by command-line flags. Errors name
// the key and say what was expected, e.g. `moat.yaml: backend.address: bad port '33o6'`.
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { type Config, type ConfigInput, configSchema } from './schema.ts';

export class ConfigError extends Error {
  readonly code = 'MOAT_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const at = e.linePos?.[0];
      throw new ConfigError(`${path}${at ? `:${at.line}:${at.col}` : ''}: ${e.message.split('\n')[0]}`);
    }
    throw e;
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`${path}: expected a mapping at the top level`);
  return doc as Record<string, unknown>;
}

/** Deep-merges `over` onto `base` (objects merged, arrays and scalars replaced). */
export function mergeConfig(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    if (isPlainObject(b) && isPlainObject(v)) out[k] = mergeConfig(b, v);
    else out[k] = v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function validateConfig(input: ConfigInput | Record<string, unknown>, source = 'config'): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      return `${key === '(top level)' ? '' : `${key}: `}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    }
    return `${key}: ${issue.message}`;
  });
  throw new ConfigError(`${source}: invalid configuration\n  ${lines.join('\n  ')}`);
}
