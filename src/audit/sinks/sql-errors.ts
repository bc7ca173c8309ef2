// The SQL-error log: one line per failed statement, in the form OSSEC and Wazuh decoders were
// written for:
//   SQL-Error: 2026-11-23 12:00:00 app@192.0.2.7:51234 -> Error 1064: You have an error … -- SELEC 1
// A burst of these from one client is what SQL injection probing looks like from the outside.
import type { Format } from './format.ts';
import { dateTime, oneLine, type TimeZone } from './text.ts';

export function sqlErrors(zone: TimeZone): Format {
  return {
    header: '',
    footer: '',
    accepts: (e) => e.name === 'Query' && e.status !== 0,
    render(e) {
      const { date, time } = dateTime(e.timestamp, zone);
      const who = `${oneLine(e.user ?? '')}@${e.ip}:${e.port}`;
      const what = `Error ${e.status}: ${oneLine(e.message ?? '')}`;
      // A cut statement ends in `…`, so a reader knows the line does not hold all of it.
      const cut = e.statementTruncated ? '…' : '';
      return `SQL-Error: ${date} ${time} ${who} -> ${what} -- ${oneLine(e.statement ?? '')}${cut}\n`;
    },
  };
}
