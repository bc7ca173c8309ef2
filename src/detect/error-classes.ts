// Which server errors say "someone is probing" rather than "the application has a bad day".
// A duplicate key (1062), a deadlock (1213) or a lock wait timeout (1205) is ordinary traffic; a
// parse error, an unknown column or a column-count mismatch is what blind probing leaves behind,
// and a run of privilege errors is someone walking the schema with the wrong account.

/** Error classes of the sql-errors rule, in the order its counters keep them. */
export const ERROR_CLASSES = ['syntax', 'unknown-object', 'column-count', 'operand'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

export const ERROR_CLASS_LABEL: Record<ErrorClass, string> = {
  syntax: 'syntax',
  'unknown-object': 'unknown column/table',
  'column-count': 'column count',
  operand: 'operand',
};

/** Index into ERROR_CLASSES. */
const PROBE: ReadonlyMap<number, number> = new Map([
  // ER_PARSE_ERROR, ER_SYNTAX_ERROR, ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT, ER_WRONG_PARAMETERS_TO_NATIVE_FCT
  [1064, 0],
  [1149, 0],
  [1582, 0],
  [1583, 0],
  // ER_BAD_FIELD_ERROR, ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR, ER_BAD_TABLE_ERROR, ER_UNKNOWN_TABLE,
  // ER_SP_DOES_NOT_EXIST, ER_FUNC_INEXISTENT_NAME_COLLISION
  [1054, 1],
  [1146, 1],
  [1049, 1],
  [1051, 1],
  [1109, 1],
  [1305, 1],
  [1630, 1],
  // ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT (UNION column counting), ER_WRONG_VALUE_COUNT(_ON_ROW)
  [1222, 2],
  [1058, 2],
  [1136, 2],
  // ER_OPERAND_COLUMNS, ER_SUBQUERY_NO_1_ROW, ER_CANT_AGGREGATE_2/3/NCOLLATIONS (UNION with
  // mismatched character sets), all typical of payloads spliced into someone else's query
  [1241, 3],
  [1242, 3],
  [1267, 3],
  [1270, 3],
  [1271, 3],
]);

/**
 * Privilege errors: ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR (COM_CHANGE_USER),
 * ER_KILL_DENIED_ERROR, ER_PASSWORD_NOT_ALLOWED, ER_TABLEACCESS_DENIED_ERROR,
 * ER_COLUMNACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_PROCACCESS_DENIED_ERROR,
 * ER_CANT_CREATE_USER_WITH_GRANT.
 */
const DENIED: ReadonlySet<number> = new Set([1044, 1045, 1095, 1132, 1142, 1143, 1227, 1370, 1410]);

/** The ERROR_CLASSES index of a probing error, or -1. */
export function probeClass(code: number): number {
  return PROBE.get(code) ?? -1;
}

export function isAccessDenied(code: number): boolean {
  return DENIED.has(code);
}
