/** A table of figures as one benchmark prints it. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** Lines printed under the table: what the figures mean, caveats. */
  readonly notes?: readonly string[];
}

/** A target from the issue, the figure measured against it, and whether it was met. */
export interface TargetCheck {
  readonly name: string;
  readonly target: string;
  readonly actual: string;
  readonly met: boolean;
}

/** What one benchmark reports: tables to print, targets to check, raw figures for the JSON file. */
export interface BenchReport {
  readonly name: string;
  readonly tables: readonly Table[];
  readonly targets: readonly TargetCheck[];
  readonly data: unknown;
}

/** A benchmark that `bench/run.ts` can run by name. */
export interface Bench {
  readonly name: string;
  readonly description: string;
  run(): Promise<BenchReport>;
}

/** Renders a table as aligned plain text; numeric columns are right-aligned. */
export function formatTable(table: Table): string {
  const cells = [table.columns.map(String), ...table.rows.map((row) => row.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const numeric = table.columns.map((_, i) => table.rows.length > 0 && table.rows.every((row) => typeof row[i] === 'number'));
  const widths = table.columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const [head, ...body] = cells;
  return [`## ${table.title}`, line(head ?? []), rule, ...body.map(line), ...(table.notes ?? []).map((n) => `  ${n}`)].join('\n');
}

/** Renders target checks as a table. */
export function targetTable(name: string, targets: readonly TargetCheck[]): Table {
  return {
    title: `${name}: targets`,
    columns: ['target', 'wanted', 'measured', 'met'],
    rows: targets.map((t) => [t.name, t.target, t.actual, t.met ? 'yes' : 'NO']),
  };
}

/** Numbers with a precision that suits their size: 3 significant digits below 100, integers above. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 100 || Number.isInteger(x)) return Math.round(x).toLocaleString('en-US');
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
