// Text-protocol result sets, server side (moat's admin port answers COM_QUERY with them):
//   column count, column definitions (Protocol::ColumnDefinition41), [EOF unless DEPRECATE_EOF],
//   rows (lenenc strings, 0xFB for NULL), then EOF — or, with DEPRECATE_EOF, an OK packet with
//   the 0xFE header.
import { Cap, Header } from '../constants.ts';
import { PacketWriter } from '../writer.ts';

/** Column types moat sends (MySQL's enum_field_types). */
export const FieldType = {
  DOUBLE: 0x05,
  LONGLONG: 0x08,
  VAR_STRING: 0xfd,
} as const;

export type FieldTypeCode = (typeof FieldType)[keyof typeof FieldType];

export interface Column {
  name: string;
  type: FieldTypeCode;
  /** Schema and table the column comes from (clients show them with --column-type-info). */
  schema?: string;
  table?: string;
}

export type Cell = string | number | bigint | null;

const UTF8MB4_GENERAL_CI = 45;
const BINARY = 63;
const NOT_NULL_FLAG = 1;
const NUM_FLAG = 32768;

/** The whole result set, packets concatenated, sequence ids from `seq`. */
export function writeResultSet(
  columns: readonly Column[],
  rows: Iterable<readonly Cell[]>,
  capabilities: number,
  seq: number,
  status: number,
): Buffer {
  const out: Buffer[] = [];
  const deprecateEof = (capabilities & Cap.DEPRECATE_EOF) !== 0;
  out.push(new PacketWriter(16).lenenc(columns.length).packet(seq++));
  for (const c of columns) {
    const numeric = c.type !== FieldType.VAR_STRING;
    out.push(
      new PacketWriter(64)
        .lenencBytes('def')
        .lenencBytes(c.schema ?? '')
        .lenencBytes(c.table ?? '')
        .lenencBytes(c.table ?? '')
        .lenencBytes(c.name)
        .lenencBytes(c.name)
        .lenenc(0x0c)
        .u16(numeric ? BINARY : UTF8MB4_GENERAL_CI)
        .u32(numeric ? 21 : 1024)
        .u8(c.type)
        .u16(numeric ? NUM_FLAG | NOT_NULL_FLAG : 0)
        .u8(c.type === FieldType.DOUBLE ? 31 : 0)
        .u16(0)
        .packet(seq++),
    );
  }
  if (!deprecateEof) out.push(eof(seq++, status));
  for (const row of rows) {
    const w = new PacketWriter(64);
    for (const cell of row) {
      if (cell === null) w.u8(0xfb);
      else w.lenencBytes(String(cell));
    }
    out.push(w.packet(seq++));
  }
  if (deprecateEof) {
    out.push(new PacketWriter(16).u8(Header.EOF).lenenc(0).lenenc(0).u16(status).u16(0).packet(seq++));
  } else out.push(eof(seq++, status));
  return Buffer.concat(out);
}

/** An EOF packet (the end of COM_FIELD_LIST's answer, or of a result set without DEPRECATE_EOF). */
export function eof(seq: number, status: number): Buffer {
  return new PacketWriter(8).u8(Header.EOF).u16(0).u16(status).packet(seq);
}
