import type { Issue } from '../../core/errors.js';
import { applyDdl, type ApplyDdlOptions, type DdlStatement, type SchemaLineage } from './apply-ddl.js';
import { quoteIdent, type ColumnSchema, type DatabaseSchema, type ForeignKeySchema, type IndexSchema, type TableSchema } from './schema.js';
import { mapColumnReferences } from './sql-expression.js';

/** What changed between a baseline and a proposed schema. */
export type DriftChangeKind =
  | 'table-dropped'
  | 'table-renamed'
  | 'table-added'
  | 'column-dropped'
  | 'column-renamed'
  | 'column-type-changed'
  | 'column-added'
  | 'not-null-removed'
  | 'not-null-added'
  | 'not-null-added-without-default'
  | 'default-removed'
  | 'default-changed'
  | 'default-added'
  | 'primary-key-removed'
  | 'primary-key-changed'
  | 'primary-key-added'
  | 'unique-removed'
  | 'unique-added'
  | 'foreign-key-removed'
  | 'foreign-key-changed'
  | 'foreign-key-added'
  | 'check-removed'
  | 'check-changed'
  | 'check-added'
  | 'exclusion-removed'
  | 'exclusion-changed'
  | 'exclusion-added'
  | 'constraint-renamed'
  | 'index-dropped'
  | 'index-changed'
  | 'index-renamed'
  | 'index-added';

/** One difference between the baseline and the proposed schema. */
export interface DriftChange {
  readonly kind: DriftChangeKind;
  /** The table's qualified name (in the proposed schema, or the baseline's when it was dropped). */
  readonly table: string;
  readonly column?: string;
  readonly constraint?: string;
  readonly index?: string;
  /** The old value: a name for renames, a type for type changes, a default, ... */
  readonly from?: string;
  /** The new value. */
  readonly to?: string;
  /** True when readers or writers written against the baseline can break. */
  readonly breaking: boolean;
  /** For humans: `drops column public.users.email (text, NOT NULL)`. */
  readonly message: string;
}

/** How a proposed schema differs from the baseline. */
export interface DriftReport {
  /** True when any change is breaking. Additive, backward-compatible changes are not drift. */
  readonly drifting: boolean;
  readonly changes: readonly DriftChange[];
}

/** The drift a DDL script would cause, with what the model could not follow. */
export interface DdlDriftReport extends DriftReport {
  /** False when the script held something the model cannot follow; `drifting` is then true (fail closed). */
  readonly ok: boolean;
  readonly issues: readonly Issue[];
  /** The schema the script would produce (a best effort when `ok` is false). */
  readonly schema: DatabaseSchema;
}

/**
 * The changes from `baseline` to `proposed`. With the `lineage` from
 * {@link applyDdl}, renames are known; without it, a single dropped table
 * whose columns equal those of a single added table counts as renamed, and
 * likewise a single dropped and added column of the same definition.
 * Constraints and indexes are matched by what they enforce, not by name.
 * Deterministic: the same inputs give the same changes in the same order.
 */
export function schemaDrift(baseline: DatabaseSchema, proposed: DatabaseSchema, lineage?: SchemaLineage): DriftReport {
  const changes: DriftChange[] = [];
  const pairs = pairTables(baseline, proposed, lineage);
  const columnMaps = new Map<string, ColumnPairing>();
  for (const [b, p] of pairs.paired) columnMaps.set(b, pairColumns(tableOf(baseline, b), tableOf(proposed, p), lineage?.tables[p]?.columns));
  const context: Context = { baseline, pairs: pairs.paired, columnMaps };

  for (const b of Object.keys(baseline.tables).sort()) {
    const table = tableOf(baseline, b);
    const p = pairs.paired.get(b);
    if (p === undefined) {
      changes.push({ kind: 'table-dropped', table: b, breaking: true, message: `drops table ${b} (${plural(table.columns.length, 'column')})` });
      continue;
    }
    if (p !== b) {
      const how = pairs.inferred.has(b) ? ' (inferred: same columns)' : '';
      changes.push({ kind: 'table-renamed', table: p, from: b, to: p, breaking: true, message: `renames table ${b} to ${p}${how}` });
    }
    const columns = columnMaps.get(b) ?? { map: new Map<string, string>(), inferred: new Set<string>() };
    compareTables(table, tableOf(proposed, p), p, columns, context, changes);
  }
  for (const p of Object.keys(proposed.tables).sort()) {
    if (pairs.proposedPaired.has(p)) continue;
    const table = tableOf(proposed, p);
    changes.push({ kind: 'table-added', table: p, breaking: false, message: `adds table ${p} (${plural(table.columns.length, 'column')})` });
  }
  return Object.freeze({ drifting: changes.some((c) => c.breaking), changes: Object.freeze(changes.map((c) => Object.freeze(c))) });
}

/**
 * Applies a parsed DDL script to the baseline ({@link applyDdl}) and reports
 * the drift. A script the model cannot follow is drift, whatever else it does.
 */
export function ddlDrift(baseline: DatabaseSchema, statements: readonly DdlStatement[], options: ApplyDdlOptions = {}): DdlDriftReport {
  const applied = applyDdl(baseline, statements, options);
  const report = schemaDrift(baseline, applied.schema, applied.lineage);
  return Object.freeze({
    ok: applied.ok,
    drifting: report.drifting || !applied.ok,
    changes: report.changes,
    issues: applied.issues,
    schema: applied.schema,
  });
}

interface TablePairs {
  /** Baseline key → proposed key. */
  readonly paired: ReadonlyMap<string, string>;
  readonly proposedPaired: ReadonlySet<string>;
  /** Baseline keys whose rename was inferred. */
  readonly inferred: ReadonlySet<string>;
}

interface ColumnPairing {
  /** Baseline column → proposed column. */
  readonly map: ReadonlyMap<string, string>;
  readonly inferred: ReadonlySet<string>;
}

interface Context {
  readonly baseline: DatabaseSchema;
  readonly pairs: ReadonlyMap<string, string>;
  readonly columnMaps: ReadonlyMap<string, ColumnPairing>;
}

function pairTables(baseline: DatabaseSchema, proposed: DatabaseSchema, lineage: SchemaLineage | undefined): TablePairs {
  const paired = new Map<string, string>();
  const proposedPaired = new Set<string>();
  const inferred = new Set<string>();
  const pair = (b: string, p: string): void => {
    paired.set(b, p);
    proposedPaired.add(p);
  };
  const proposedKeys = Object.keys(proposed.tables).sort();
  if (lineage !== undefined) {
    for (const p of proposedKeys) {
      const from = lineage.tables[p]?.from;
      if (typeof from === 'string' && baseline.tables[from] !== undefined && !paired.has(from)) pair(from, p);
    }
  }
  for (const p of proposedKeys) {
    // A table the lineage says the script created is new, even under an old name.
    if (proposedPaired.has(p) || (lineage?.tables[p] !== undefined && lineage.tables[p].from === null)) continue;
    if (baseline.tables[p] !== undefined && !paired.has(p)) pair(p, p);
  }
  if (lineage === undefined) {
    const dropped = Object.keys(baseline.tables).filter((b) => !paired.has(b));
    const added = proposedKeys.filter((p) => !proposedPaired.has(p));
    const [b] = dropped;
    const [p] = added;
    if (dropped.length === 1 && added.length === 1 && b !== undefined && p !== undefined && sameColumns(tableOf(baseline, b).columns, tableOf(proposed, p).columns)) {
      pair(b, p);
      inferred.add(b);
    }
  }
  return { paired, proposedPaired, inferred };
}

function pairColumns(b: TableSchema, p: TableSchema, lineage: Readonly<Record<string, string | null>> | undefined): ColumnPairing {
  const map = new Map<string, string>();
  const taken = new Set<string>();
  const inferred = new Set<string>();
  for (const column of p.columns) {
    const from = lineage === undefined ? undefined : lineage[column.name];
    if (from === null) {
      taken.add(column.name);
      continue;
    }
    const origin = from ?? column.name;
    if (b.columns.some((c) => c.name === origin) && !map.has(origin)) {
      map.set(origin, column.name);
      taken.add(column.name);
    }
  }
  if (lineage === undefined) {
    const dropped = b.columns.filter((c) => !map.has(c.name));
    const added = p.columns.filter((c) => !taken.has(c.name));
    const [d] = dropped;
    const [a] = added;
    if (dropped.length === 1 && added.length === 1 && d !== undefined && a !== undefined && sameColumn(d, a)) {
      map.set(d.name, a.name);
      inferred.add(d.name);
    }
  }
  return { map, inferred };
}

function compareTables(b: TableSchema, p: TableSchema, key: string, columns: ColumnPairing, context: Context, changes: DriftChange[]): void {
  const at = (column: string): string => `${key}.${quoteIdent(column)}`;
  const mapped = new Set(columns.map.values());

  for (const bc of b.columns) {
    const pName = columns.map.get(bc.name);
    const pc = pName === undefined ? undefined : p.columns.find((c) => c.name === pName);
    if (pc === undefined) {
      changes.push({ kind: 'column-dropped', table: key, column: bc.name, breaking: true, message: `drops column ${at(bc.name)} (${describeColumn(bc)})` });
      continue;
    }
    if (pc.name !== bc.name) {
      const how = columns.inferred.has(bc.name) ? ' (inferred: same definition)' : '';
      changes.push({ kind: 'column-renamed', table: key, column: pc.name, from: bc.name, to: pc.name, breaking: true, message: `renames column ${at(bc.name)} to ${quoteIdent(pc.name)}${how}` });
    }
    compareColumns(bc, pc, key, at(pc.name), changes);
  }
  for (const pc of p.columns) {
    if (mapped.has(pc.name)) continue;
    const breaking = pc.notNull && !fillsItself(pc);
    const why = breaking ? ' without a default: inserts that omit it fail' : '';
    changes.push({ kind: 'column-added', table: key, column: pc.name, breaking, message: `adds column ${at(pc.name)} (${describeColumn(pc)})${why}` });
  }

  const mapColumn = (c: string): string | undefined => columns.map.get(c);
  const mapList = (list: readonly string[]): string[] | undefined => {
    const out = list.map(mapColumn);
    return out.every((c) => c !== undefined) ? (out as string[]) : undefined;
  };
  const mapSql = (sql: string): string => mapColumnReferences(sql, (c) => columns.map.get(c) ?? c);
  comparePrimaryKeys(b, p, key, mapList, changes);
  compareUniques(b, p, key, mapList, changes);
  compareForeignKeys(b, p, key, mapList, context, changes);
  compareNamed('check', b.checks.map((c) => ({ name: c.name, text: c.expression })), p.checks.map((c) => ({ name: c.name, text: c.expression })), key, mapSql, changes);
  compareNamed('exclusion', b.exclusions.map((x) => ({ name: x.name, text: x.definition })), p.exclusions.map((x) => ({ name: x.name, text: x.definition })), key, mapSql, changes);
  compareIndexes(b, p, key, mapSql, changes);
}

function compareColumns(bc: ColumnSchema, pc: ColumnSchema, table: string, at: string, changes: DriftChange[]): void {
  const column = pc.name;
  if (bc.type !== pc.type) {
    const widening = isWidening(bc.type, pc.type);
    const how = widening ? ' (widening: existing readers and writers keep working)' : '';
    changes.push({ kind: 'column-type-changed', table, column, from: bc.type, to: pc.type, breaking: !widening, message: `changes the type of ${at} from ${bc.type} to ${pc.type}${how}` });
  }
  if (bc.notNull && !pc.notNull) {
    changes.push({ kind: 'not-null-removed', table, column, breaking: true, message: `drops NOT NULL from ${at}: readers may now see NULLs` });
  } else if (!bc.notNull && pc.notNull) {
    if (fillsItself(pc)) changes.push({ kind: 'not-null-added', table, column, breaking: false, message: `sets NOT NULL on ${at} (it has ${describeDefault(pc)})` });
    else changes.push({ kind: 'not-null-added-without-default', table, column, breaking: true, message: `sets NOT NULL on ${at}, which has no default: inserts that omit it fail` });
  }
  const from = fillsItself(bc) ? describeDefault(bc) : undefined;
  const to = fillsItself(pc) ? describeDefault(pc) : undefined;
  if (from !== undefined && to === undefined) {
    const breaking = pc.notNull;
    const why = breaking ? ': inserts that omit it fail' : ': inserts that omit it now store NULL';
    changes.push({ kind: 'default-removed', table, column, from, breaking, message: `drops ${from} from ${at}${why}` });
  } else if (from === undefined && to !== undefined) {
    changes.push({ kind: 'default-added', table, column, to, breaking: false, message: `gives ${at} ${to}` });
  } else if (from !== undefined && to !== undefined && from !== to) {
    // GENERATED ALWAYS refuses the values writers used to supply.
    const breaking = (pc.identity === 'always' && bc.identity !== 'always') || (pc.generated !== undefined && bc.generated === undefined);
    changes.push({ kind: 'default-changed', table, column, from, to, breaking, message: `changes ${at} from ${from} to ${to}` });
  }
}

function comparePrimaryKeys(b: TableSchema, p: TableSchema, table: string, mapList: (l: readonly string[]) => string[] | undefined, changes: DriftChange[]): void {
  const bk = b.primaryKey;
  const pk = p.primaryKey;
  if (bk === undefined) {
    if (pk !== undefined) changes.push({ kind: 'primary-key-added', table, constraint: pk.name, breaking: false, message: `adds primary key ${pk.name} ${columnList(pk.columns)} to ${table}` });
    return;
  }
  if (pk === undefined) {
    changes.push({ kind: 'primary-key-removed', table, constraint: bk.name, breaking: true, message: `drops primary key ${bk.name} ${columnList(bk.columns)} of ${table}` });
    return;
  }
  const mapped = mapList(bk.columns);
  if (mapped === undefined || !sameList(mapped, pk.columns)) {
    changes.push({
      kind: 'primary-key-changed',
      table,
      constraint: pk.name,
      from: columnList(bk.columns),
      to: columnList(pk.columns),
      breaking: true,
      message: `changes the primary key of ${table} from ${columnList(bk.columns)} to ${columnList(pk.columns)}`,
    });
  } else if (bk.name !== pk.name) {
    changes.push({ kind: 'constraint-renamed', table, constraint: pk.name, from: bk.name, to: pk.name, breaking: false, message: `renames constraint ${bk.name} of ${table} to ${pk.name}` });
  }
}

function compareUniques(b: TableSchema, p: TableSchema, table: string, mapList: (l: readonly string[]) => string[] | undefined, changes: DriftChange[]): void {
  const matched = new Set<string>();
  for (const u of b.uniques) {
    const mapped = mapList(u.columns);
    const same = mapped === undefined ? undefined : p.uniques.find((q) => !matched.has(q.name) && sameSet(q.columns, mapped) && q.nullsNotDistinct === u.nullsNotDistinct);
    if (same !== undefined) {
      matched.add(same.name);
      if (same.name !== u.name) changes.push({ kind: 'constraint-renamed', table, constraint: same.name, from: u.name, to: same.name, breaking: false, message: `renames constraint ${u.name} of ${table} to ${same.name}` });
      continue;
    }
    const still = mapped === undefined ? undefined : uniquenessOf(p, mapped);
    changes.push({
      kind: 'unique-removed',
      table,
      constraint: u.name,
      breaking: still === undefined,
      message: `drops unique constraint ${u.name} ${columnList(u.columns)} of ${table}${still === undefined ? '' : `; ${still} still enforces it`}`,
    });
  }
  for (const q of p.uniques) {
    if (!matched.has(q.name)) changes.push({ kind: 'unique-added', table, constraint: q.name, breaking: false, message: `adds unique constraint ${q.name} ${columnList(q.columns)} to ${table}` });
  }
}

/** What in `t` guarantees that `columns` are unique: the primary key, a unique constraint or a full unique index. */
function uniquenessOf(t: TableSchema, columns: readonly string[]): string | undefined {
  if (t.primaryKey !== undefined && sameSet(t.primaryKey.columns, columns)) return `primary key ${t.primaryKey.name}`;
  const u = t.uniques.find((q) => sameSet(q.columns, columns));
  if (u !== undefined) return `unique constraint ${u.name}`;
  const quoted = columns.map(quoteIdent);
  const i = t.indexes.find((x) => x.unique && x.where === undefined && x.method === 'btree' && sameSet(x.columns, quoted));
  return i === undefined ? undefined : `unique index ${i.name}`;
}

function compareForeignKeys(
  b: TableSchema,
  p: TableSchema,
  table: string,
  mapList: (l: readonly string[]) => string[] | undefined,
  context: Context,
  changes: DriftChange[],
): void {
  const matched = new Set<string>();
  // The baseline key as it should read in the proposed schema (undefined parts cannot be preserved).
  const translate = (fk: ForeignKeySchema): { columns?: string[]; table?: string; refColumns?: string[] } => {
    const ref = fk.references;
    const columns = mapList(fk.columns);
    // A table outside the baseline (another schema) keeps its name and columns.
    if (context.baseline.tables[ref.table] === undefined) return { ...(columns === undefined ? {} : { columns }), table: ref.table, refColumns: [...ref.columns] };
    const table = context.pairs.get(ref.table);
    const refMap = context.columnMaps.get(ref.table)?.map;
    const refColumns = refMap === undefined ? undefined : ref.columns.map((c) => refMap.get(c));
    return {
      ...(columns === undefined ? {} : { columns }),
      ...(table === undefined ? {} : { table }),
      ...(refColumns === undefined || refColumns.some((c) => c === undefined) ? {} : { refColumns: refColumns as string[] }),
    };
  };
  for (const fk of b.foreignKeys) {
    const t = translate(fk);
    const candidates = p.foreignKeys.filter((q) => !matched.has(q.name) && t.columns !== undefined && sameList(q.columns, t.columns) && q.references.table === t.table);
    const same = candidates.find((q) => t.refColumns !== undefined && sameList(q.references.columns, t.refColumns) && q.onDelete === fk.onDelete && q.onUpdate === fk.onUpdate);
    if (same !== undefined) {
      matched.add(same.name);
      if (same.name !== fk.name) changes.push({ kind: 'constraint-renamed', table, constraint: same.name, from: fk.name, to: same.name, breaking: false, message: `renames constraint ${fk.name} of ${table} to ${same.name}` });
      continue;
    }
    const changed = candidates[0];
    if (changed !== undefined) {
      matched.add(changed.name);
      const from = describeForeignKey(fk);
      const to = describeForeignKey(changed);
      changes.push({ kind: 'foreign-key-changed', table, constraint: changed.name, from, to, breaking: true, message: `changes foreign key ${fk.name} of ${table} from ${from} to ${to}` });
      continue;
    }
    changes.push({ kind: 'foreign-key-removed', table, constraint: fk.name, breaking: true, message: `drops foreign key ${fk.name} of ${table}: ${describeForeignKey(fk)}` });
  }
  for (const q of p.foreignKeys) {
    if (!matched.has(q.name)) changes.push({ kind: 'foreign-key-added', table, constraint: q.name, breaking: false, message: `adds foreign key ${q.name} to ${table}: ${describeForeignKey(q)}` });
  }
}

interface NamedRule {
  readonly name: string;
  readonly text: string;
}

/** Checks and exclusions: matched by name, then by definition (a rename). */
function compareNamed(what: 'check' | 'exclusion', b: readonly NamedRule[], p: readonly NamedRule[], table: string, mapSql: (sql: string) => string, changes: DriftChange[]): void {
  const matched = new Set<string>();
  const label = what === 'check' ? 'check constraint' : 'exclusion constraint';
  for (const rule of b) {
    const text = mapSql(rule.text);
    const byName = p.find((q) => q.name === rule.name);
    if (byName !== undefined) {
      matched.add(byName.name);
      if (byName.text !== text) {
        changes.push({ kind: `${what}-changed`, table, constraint: rule.name, from: rule.text, to: byName.text, breaking: true, message: `changes ${label} ${rule.name} of ${table} from ${rule.text} to ${byName.text}` });
      }
      continue;
    }
    const renamed = p.find((q) => !matched.has(q.name) && q.text === text && !b.some((r) => r.name === q.name));
    if (renamed !== undefined) {
      matched.add(renamed.name);
      changes.push({ kind: 'constraint-renamed', table, constraint: renamed.name, from: rule.name, to: renamed.name, breaking: false, message: `renames constraint ${rule.name} of ${table} to ${renamed.name}` });
      continue;
    }
    changes.push({ kind: `${what}-removed`, table, constraint: rule.name, breaking: true, message: `drops ${label} ${rule.name} of ${table}: ${rule.text}` });
  }
  for (const q of p) {
    if (!matched.has(q.name)) changes.push({ kind: `${what}-added`, table, constraint: q.name, breaking: false, message: `adds ${label} ${q.name} to ${table}: ${q.text}` });
  }
}

function compareIndexes(b: TableSchema, p: TableSchema, table: string, mapSql: (sql: string) => string, changes: DriftChange[]): void {
  const matched = new Set<string>();
  const signature = (i: IndexSchema, map: (sql: string) => string): string =>
    JSON.stringify([i.method, i.unique, i.nullsNotDistinct === true, i.columns.map(map), i.where === undefined ? null : map(i.where), (i.include ?? []).map(map)]);
  const identity = (sql: string): string => sql;
  for (const i of b.indexes) {
    const sig = signature(i, mapSql);
    const same = p.indexes.find((q) => q.name === i.name && signature(q, identity) === sig);
    if (same !== undefined) {
      matched.add(same.name);
      continue;
    }
    const renamed = p.indexes.find((q) => !matched.has(q.name) && signature(q, identity) === sig && !b.indexes.some((x) => x.name === q.name));
    if (renamed !== undefined) {
      matched.add(renamed.name);
      changes.push({ kind: 'index-renamed', table, index: renamed.name, from: i.name, to: renamed.name, breaking: false, message: `renames index ${i.name} on ${table} to ${renamed.name}` });
      continue;
    }
    const redefined = p.indexes.find((q) => q.name === i.name);
    if (redefined !== undefined) {
      matched.add(redefined.name);
      const from = describeIndex(i);
      const to = describeIndex(redefined);
      changes.push({ kind: 'index-changed', table, index: i.name, from, to, breaking: i.unique, message: `changes index ${i.name} on ${table} from ${from} to ${to}` });
      continue;
    }
    // A unique index that now backs a constraint (ADD CONSTRAINT ... USING INDEX) still enforces uniqueness.
    const plain = i.columns.map(mapSql).map((k) => p.columns.find((c) => quoteIdent(c.name) === k)?.name);
    const backing =
      i.unique && i.where === undefined && i.include === undefined && plain.every((c) => c !== undefined) ? uniquenessOf({ ...p, indexes: [] }, plain as string[]) : undefined;
    changes.push({
      kind: 'index-dropped',
      table,
      index: i.name,
      breaking: backing === undefined,
      message: `drops ${i.unique ? 'unique ' : ''}index ${i.name} on ${table} ${describeIndex(i)}${backing === undefined ? '' : `; ${backing} still enforces it`}`,
    });
  }
  for (const q of p.indexes) {
    if (!matched.has(q.name)) changes.push({ kind: 'index-added', table, index: q.name, breaking: false, message: `adds ${q.unique ? 'unique ' : ''}index ${q.name} on ${table} ${describeIndex(q)}` });
  }
}

/** A column that fills itself when an insert omits it: a default, an identity, a generated expression. */
function fillsItself(c: ColumnSchema): boolean {
  return c.default !== undefined || c.identity !== undefined || c.generated !== undefined;
}

function describeDefault(c: ColumnSchema): string {
  if (c.identity !== undefined) return `GENERATED ${c.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`;
  if (c.generated !== undefined) return `GENERATED ALWAYS AS (${c.generated}) STORED`;
  return `DEFAULT ${c.default ?? 'NULL'}`;
}

/** `text, NOT NULL`. */
function describeColumn(c: ColumnSchema): string {
  return `${c.type}${c.notNull ? ', NOT NULL' : ''}`;
}

function describeForeignKey(fk: ForeignKeySchema): string {
  const actions = [fk.onDelete === undefined ? '' : ` ON DELETE ${fk.onDelete.replace('-', ' ').toUpperCase()}`, fk.onUpdate === undefined ? '' : ` ON UPDATE ${fk.onUpdate.replace('-', ' ').toUpperCase()}`];
  return `${columnList(fk.columns)} REFERENCES ${fk.references.table} ${columnList(fk.references.columns)}${actions.join('')}`;
}

function describeIndex(i: IndexSchema): string {
  const include = i.include === undefined ? '' : ` INCLUDE (${i.include.join(', ')})`;
  return `USING ${i.method} (${i.columns.join(', ')})${include}${i.nullsNotDistinct === true ? ' NULLS NOT DISTINCT' : ''}${i.where === undefined ? '' : ` WHERE ${i.where}`}`;
}

function columnList(columns: readonly string[]): string {
  return `(${columns.map(quoteIdent).join(', ')})`;
}

const VARCHAR = /^character varying(?:\((\d+)\))?$/;
const VARBIT = /^bit varying(?:\((\d+)\))?$/;
const NUMERIC = /^numeric(?:\((\d+),(\d+)\))?$/;

/**
 * A type change that every value of the old type survives unchanged and
 * PostgreSQL makes without a rewrite: a longer (or unbounded) varchar or
 * varbit, varchar to text, more numeric precision at the same scale.
 */
export function isWidening(from: string, to: string): boolean {
  const v = VARCHAR.exec(from);
  if (v !== null) {
    if (to === 'text') return true;
    const w = VARCHAR.exec(to);
    return w !== null && (w[1] === undefined || (v[1] !== undefined && Number(w[1]) >= Number(v[1])));
  }
  const bv = VARBIT.exec(from);
  if (bv !== null) {
    const bw = VARBIT.exec(to);
    return bw !== null && (bw[1] === undefined || (bv[1] !== undefined && Number(bw[1]) >= Number(bv[1])));
  }
  const n = NUMERIC.exec(from);
  const m = NUMERIC.exec(to);
  if (n !== null && m !== null) return m[1] === undefined || (n[1] !== undefined && n[2] === m[2] && Number(m[1]) >= Number(n[1]));
  return false;
}

function sameColumns(a: readonly ColumnSchema[], b: readonly ColumnSchema[]): boolean {
  return a.length === b.length && a.every((c, i) => b[i] !== undefined && c.name === b[i].name && sameColumn(c, b[i]));
}

function sameColumn(a: ColumnSchema, b: ColumnSchema): boolean {
  return a.type === b.type && a.notNull === b.notNull && a.default === b.default && a.identity === b.identity && a.generated === b.generated;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function tableOf(schema: DatabaseSchema, key: string): TableSchema {
  const table = schema.tables[key];
  // Keys come from the same schema's own key list.
  if (table === undefined) throw new TypeError(`no table ${key}`);
  return table;
}
