/**
 * Rows as aligned columns under a header, for people: each column as wide as its widest cell, a
 * cell longer than `maxWidth` cut with an ellipsis. Scripts get `--json` instead.
 */
export const alignedTable = (header: readonly string[], rows: readonly (readonly string[])[], maxWidth = 60): string[] => {
  const cut = (cell: string): string => {
    const flat = cell.replace(/\s+/g, ' ');
    return flat.length > maxWidth ? `${flat.slice(0, maxWidth - 1)}…` : flat;
  };
  const cells = [header, ...rows].map((row) => row.map(cut));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)));
  return cells.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
};
