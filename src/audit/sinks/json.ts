// JSON lines: one AuditEvent per line, its fields as the event model names them. JSON.stringify
// escapes line breaks inside strings, so a record is always exactly one line.
import type { Format } from './format.ts';

export function jsonLines(): Format {
  return {
    header: '',
    footer: '',
    accepts: () => true,
    render: (e) => `${JSON.stringify(e)}\n`,
  };
}
