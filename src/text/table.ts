// Aligned text tables for the CLI: numbers right-aligned, a bold header only on a terminal
// (NO_COLOR respected), plain text when piped so scripts can read it.
export function formatTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const colour = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  const head = line(headers);
  return `${[colour ? `\x1b[1m${head}\x1b[0m` : head, ...cells.map(line)].join('\n')}\n`;
}
