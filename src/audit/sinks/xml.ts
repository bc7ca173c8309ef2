// MySQL Enterprise Audit's new-style XML (audit_log_format=NEW), so that tools reading those
// files (Oracle Audit Vault, SIEM parsers, mysqlauditgrep) read moat's:
//
//   <?xml version="1.0" encoding="utf-8"?>
//   <AUDIT>
//    <AUDIT_RECORD>
//     <TIMESTAMP>2026-11-23T12:00:00 UTC</TIMESTAMP>     event time, UTC, whole seconds
//     <RECORD_ID>1_2026-11-23T11:59:58</RECORD_ID>       sequence _ when the file was opened
//     <NAME>Connect</NAME>
//     …
//    </AUDIT_RECORD>
//   </AUDIT>                                             written when the file is closed
//
// Element order follows MySQL's own records. Connect and Change user carry CONNECTION_TYPE,
// PRIV_USER, PROXY_USER and DB; Quit carries CONNECTION_TYPE; Query (and moat's Admin and Alert)
// carry SQLTEXT and USER in MySQL's `user[priv_user] @ host [ip]` form; a statement that was cut
// is followed by moat's <SQLTEXT_TRUNCATED>true</…> and <SQLTEXT_LENGTH>bytes sent</…>, a statement
// with a digest by moat's <DIGEST>64 hex digits</DIGEST>. CONNECTION_ATTRIBUTES is
// left out: its nested <NAME> elements trip readers that take the last NAME of a record. As in
// MySQL, the sequence starts at the file's size when it is opened, so RECORD_IDs stay unique
// across restarts.
import { isIP } from 'node:net';
import type { AuditEvent } from '../event.ts';
import { leadingKeywords, statementClass } from '../statement.ts';
import type { Format } from './format.ts';

export const XML_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<AUDIT>\n';
export const XML_FOOTER = '</AUDIT>\n';

/** Characters XML 1.0 forbids even as references; a statement may hold them, the file may not. */
const NOT_XML = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;
const LINE_OR_C1 = /[\n\x7f-\x9f\u2028\u2029]/g;

export function xmlText(s: string): string {
  return (
    s
      .replace(NOT_XML, '\ufffd')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/\r/g, '&#13;') // a parser would turn a bare CR into LF
      // Line breaks, C1 controls and Unicode line separators as references: the parsed value is the
      // same, and a value chosen by a client (a user name holding `\n` and a forged line) can never
      // start a line of the file for a line-based reader (grep, a log shipper, a terminal).
      .replace(LINE_OR_C1, (c) => `&#${c.charCodeAt(0)};`)
  );
}

function element(name: string, value: string | number | null): string {
  const text = value === null ? '' : xmlText(String(value));
  return text === '' ? `  <${name}/>\n` : `  <${name}>${text}</${name}>\n`;
}

/** `2026-11-23T12:00:00`: ISO 8601 in UTC without fractions, as Enterprise Audit writes times. */
function seconds(d: Date): string {
  return d.toISOString().slice(0, 19);
}

const CONNECTION_EVENTS = new Set(['Connect', 'Change user', 'Quit', 'Blocked', 'Unblocked', 'Delayed']);

const OBJECTS: Record<string, string> = {
  TABLE: 'table',
  DATABASE: 'db',
  SCHEMA: 'db',
  USER: 'user',
  ROLE: 'role',
  INDEX: 'index',
  VIEW: 'view',
  PROCEDURE: 'procedure',
  FUNCTION: 'function',
  TRIGGER: 'trigger',
  EVENT: 'event',
  SERVER: 'server',
  TABLESPACE: 'tablespace',
  SEQUENCE: 'sequence',
};

const COMMANDS: Record<string, string> = {
  USE: 'change_db',
  BEGIN: 'begin',
  CALL: 'call_procedure',
  LOCK: 'lock_tables',
  UNLOCK: 'unlock_tables',
  PREPARE: 'prepare_sql',
  EXECUTE: 'execute_sql',
  DEALLOCATE: 'dealloc_sql',
  LOAD: 'load',
};

/** MySQL's sql_command names (select, insert, create_table, set_option …) from the keywords. */
export function commandClass(e: AuditEvent): string {
  if (CONNECTION_EVENTS.has(e.name)) return 'connect';
  if (e.name === 'Alert') return 'alert';
  if (e.statement === null) return e.command === 'Init_DB' ? 'change_db' : (e.command ?? '').toLowerCase();
  const words = leadingKeywords(e.statement, 6);
  const [first = '', second = ''] = words;
  switch (first) {
    case 'CREATE':
    case 'DROP':
    case 'ALTER': {
      const object = words.slice(1).find((w) => OBJECTS[w] !== undefined);
      return object === undefined ? first.toLowerCase() : `${first.toLowerCase()}_${OBJECTS[object]}`;
    }
    case 'RENAME':
      return second === 'USER' ? 'rename_user' : 'rename_table';
    case 'SHOW':
      return second === '' ? 'show' : `show_${second.toLowerCase()}`;
    case 'SET':
      return second === 'PASSWORD' ? 'set_password' : 'set_option';
    case 'START':
      return second === 'TRANSACTION' ? 'begin' : `start_${second.toLowerCase()}`;
    case 'WITH':
      return statementClass(e.statement);
    default:
      return COMMANDS[first] ?? first.toLowerCase();
  }
}

function connectionType(e: AuditEvent): string {
  if (e.tlsVersion !== null) return 'SSL/TLS';
  // A unix-socket listener reports 'localhost' and port 0 (no TCP peer).
  return e.port === 0 && isIP(e.ip) === 0 ? 'Socket' : 'TCP/IP';
}

export function enterpriseXml(): Format {
  let seq = 0;
  let opened = seconds(new Date());
  return {
    header: XML_HEADER,
    footer: XML_FOOTER,
    accepts: () => true,
    fileStarted(size, at) {
      seq = size;
      opened = seconds(at);
    },
    render(e) {
      seq++;
      const ip = isIP(e.ip) === 0 ? '' : e.ip;
      const user = e.user ?? '';
      let out = ' <AUDIT_RECORD>\n';
      out += element('TIMESTAMP', `${seconds(new Date(e.timestamp))} UTC`);
      out += element('RECORD_ID', `${seq}_${opened}`);
      out += element('NAME', e.name);
      out += element('CONNECTION_ID', e.connectionId);
      out += element('STATUS', e.status);
      out += element('STATUS_CODE', e.status === 0 ? 0 : 1);
      const query = !CONNECTION_EVENTS.has(e.name);
      out += element('USER', query ? `${user}[${user}] @ ${e.host} [${ip}]` : user);
      out += element('OS_LOGIN', null);
      out += element('HOST', e.host);
      out += element('IP', ip);
      out += element('COMMAND_CLASS', commandClass(e));
      if (query) {
        out += element('SQLTEXT', e.statement);
        // moat's own elements, after MySQL's and only on a cut statement (readers that know
        // Enterprise Audit skip elements they do not know): SQLTEXT is not the whole statement.
        if (e.statementTruncated) {
          out += element('SQLTEXT_TRUNCATED', 'true');
          if (e.statementLength !== null) out += element('SQLTEXT_LENGTH', e.statementLength);
        }
        // moat's too: the statement digest (performance_schema's DIGEST, here SHA-256 of DIGEST_TEXT).
        if (e.digest !== null) out += element('DIGEST', e.digest);
      } else {
        out += element('CONNECTION_TYPE', connectionType(e));
        if (e.name !== 'Quit') {
          out += element('PRIV_USER', user);
          out += element('PROXY_USER', null);
          out += element('DB', e.db);
        }
      }
      return `${out} </AUDIT_RECORD>\n`;
    },
  };
}
