import type {
  AlterTableCmd,
  AlterTableStmt,
  ColumnDef,
  Constraint,
  CreateStmt,
  DropStmt,
  IndexElem,
  IndexStmt,
  Node,
  RangeVar,
  RenameStmt,
} from 'libpg-query';
import type { Issue } from '../../core/errors.js';
import { chooseName, indexColumnNames, nameAddition } from './pg-object-names.js';
import { normalizeTypeName, stringValue } from './pg-type-name.js';
import {
  canonicalSchema,
  qualifiedName,
  quoteIdent,
  type CheckConstraintSchema,
  type ColumnSchema,
  type DatabaseSchema,
  type ExclusionConstraintSchema,
  type ForeignKeySchema,
  type IndexSchema,
  type KeyConstraintSchema,
  type ReferentialAction,
  type TableSchema,
  type UniqueConstraintSchema,
} from './schema.js';
import { quoteLiteral, referencedColumns, renameColumnReferences, renderExpression } from './sql-expression.js';

/**
 * One statement of a parsed script, as libpg-query's `parseSync(sql).stmts`
 * returns it (`RawStmt`). Typed loosely so a tree from any wrapper of that
 * parser (e.g. the SQL analyzer's `RawStatement`) can be passed as it is.
 */
export interface DdlStatement {
  readonly stmt?: object;
  /** Byte offset of the statement in the script. */
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

/** How to read a script. */
export interface ApplyDdlOptions {
  /** The session's search path; unqualified names are created in its first schema. Default `['public']`. */
  readonly searchPath?: readonly string[];
  /** The script's text, to give each issue the line of its statement. */
  readonly sql?: string;
}

/**
 * Where each table and column of the computed schema comes from, so that a
 * rename is told apart from a drop and an add, and a table dropped and
 * created again under the same name is not taken for the old one.
 */
export interface SchemaLineage {
  /** Keyed by the computed schema's table keys. */
  readonly tables: Readonly<Record<string, TableLineage>>;
}

/** The origin of one table of the computed schema. */
export interface TableLineage {
  /** The baseline table it was (perhaps under another name), or null when the script created it. */
  readonly from: string | null;
  /** For each of its columns, the baseline column it was, or null when the script added it. */
  readonly columns: Readonly<Record<string, string | null>>;
}

/** The schema a script would produce. */
export interface ApplyDdlResult {
  /**
   * False when the script holds something the model cannot follow (an unknown
   * or dynamic statement, a change to an object outside the model) or that
   * would fail on a database in the baseline's state: the schema is then a best
   * effort and the caller must treat the script as drift.
   */
  readonly ok: boolean;
  readonly schema: DatabaseSchema;
  readonly lineage: SchemaLineage;
  readonly issues: readonly Issue[];
}

/**
 * The schema `statements` would leave behind when run on a database whose
 * schema is `schema`. Pure and total: it never throws on a parse tree, and what
 * it cannot model becomes an issue (fail closed). Statements that change no
 * table (DML, transaction control, GRANT, COMMENT, creating a view, function,
 * type or sequence) are skipped.
 */
export function applyDdl(schema: DatabaseSchema, statements: readonly DdlStatement[], options: ApplyDdlOptions = {}): ApplyDdlResult {
  const state = new DdlState(schema, options);
  statements.forEach((statement, index) => state.apply(statement, index));
  return state.result();
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface WorkColumn extends Mutable<ColumnSchema> {
  origin: string | null;
}

interface WorkTable {
  schema: string;
  name: string;
  origin: string | null;
  columns: WorkColumn[];
  primaryKey: KeyConstraintSchema | undefined;
  uniques: UniqueConstraintSchema[];
  foreignKeys: ForeignKeySchema[];
  checks: CheckConstraintSchema[];
  exclusions: ExclusionConstraintSchema[];
  indexes: IndexSchema[];
}

/** A constraint waiting for its table's columns, with the column it was written on. */
interface PendingConstraint {
  readonly constraint: Constraint;
  readonly column?: string;
}

const REFERENTIAL_ACTIONS: Readonly<Record<string, ReferentialAction>> = { r: 'restrict', c: 'cascade', n: 'set-null', d: 'set-default' };

// Statements that change no table of the model.
const NEUTRAL_STATEMENTS = new Set([
  'TransactionStmt',
  'VariableShowStmt',
  'CommentStmt',
  'SecLabelStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'CreateRoleStmt',
  'AlterOwnerStmt',
  'AlterDefaultPrivilegesStmt',
  'VacuumStmt',
  'ClusterStmt',
  'ReindexStmt',
  'CheckPointStmt',
  'LockStmt',
  'NotifyStmt',
  'ListenStmt',
  'UnlistenStmt',
  'DiscardStmt',
  'ConstraintsSetStmt',
  'RefreshMatViewStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'CopyStmt',
  'TruncateStmt',
  'DeclareCursorStmt',
  'FetchStmt',
  'ClosePortalStmt',
  // New objects outside the model; the `OR REPLACE` forms are checked below.
  'CreateSeqStmt',
  'CreateEnumStmt',
  'CreateDomainStmt',
  'CompositeTypeStmt',
  'CreateRangeStmt',
  'CreateExtensionStmt',
  'CreateFunctionStmt',
  'ViewStmt',
  'CreateTrigStmt',
  'CreatePolicyStmt',
  'CreateStatsStmt',
  'DefineStmt',
  'RuleStmt',
]);

const NEUTRAL_TABLE_COMMANDS = new Set([
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_SetStorage',
  'AT_SetCompression',
  'AT_ChangeOwner',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_SetLogged',
  'AT_SetUnLogged',
  'AT_SetAccessMethod',
  'AT_SetTableSpace',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ReplaceRelOptions',
  'AT_EnableTrig',
  'AT_EnableAlwaysTrig',
  'AT_EnableReplicaTrig',
  'AT_DisableTrig',
  'AT_EnableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrigUser',
  'AT_EnableRule',
  'AT_EnableAlwaysRule',
  'AT_EnableReplicaRule',
  'AT_DisableRule',
  'AT_ReplicaIdentity',
  'AT_EnableRowSecurity',
  'AT_ForceRowSecurity',
  'AT_ValidateConstraint',
  'AT_AlterConstraint',
  'AT_GenericOptions',
]);

const NEUTRAL_INDEX_COMMANDS = new Set(['AT_SetTableSpace', 'AT_SetRelOptions', 'AT_ResetRelOptions', 'AT_SetStatistics']);

class DdlState {
  readonly #tables = new Map<string, WorkTable>();
  readonly #issues: Issue[] = [];
  readonly #initialPath: readonly string[];
  readonly #sql: string | undefined;
  #searchPath: readonly string[];
  #index = 0;
  #location = 0;

  constructor(schema: DatabaseSchema, options: ApplyDdlOptions) {
    for (const [key, table] of Object.entries(schema.tables)) this.#tables.set(key, loadTable(key, table));
    this.#initialPath = options.searchPath ?? ['public'];
    this.#searchPath = this.#initialPath;
    this.#sql = options.sql;
  }

  result(): ApplyDdlResult {
    const tables: Record<string, TableSchema> = {};
    const lineage: Record<string, TableLineage> = {};
    for (const [key, t] of this.#tables) {
      tables[key] = {
        schema: t.schema,
        name: t.name,
        columns: t.columns.map(({ origin: _origin, ...column }) => column),
        ...(t.primaryKey === undefined ? {} : { primaryKey: t.primaryKey }),
        uniques: t.uniques,
        foreignKeys: t.foreignKeys,
        checks: t.checks,
        exclusions: t.exclusions,
        indexes: t.indexes,
      };
      lineage[key] = Object.freeze({ from: t.origin, columns: Object.freeze(Object.fromEntries(t.columns.map((c) => [c.name, c.origin]))) });
    }
    return Object.freeze({
      ok: this.#issues.length === 0,
      schema: canonicalSchema({ tables }),
      lineage: Object.freeze({ tables: Object.freeze(lineage) }),
      issues: Object.freeze([...this.#issues]),
    });
  }

  apply(raw: DdlStatement, index: number): void {
    this.#index = index;
    this.#location = raw.stmt_location ?? 0;
    // The tree comes from libpg-query, whose node shapes the Node type describes.
    if (raw.stmt !== undefined) this.#statement(raw.stmt as Node);
  }

  #issue(message: string): void {
    const issue: Mutable<Issue> = { path: `statements[${this.#index}]`, message };
    const line = this.#sql === undefined ? undefined : lineAt(this.#sql, this.#location);
    if (line !== undefined) issue.line = line;
    this.#issues.push(issue);
  }

  #unmodeled(what: string): void {
    this.#issue(`${what} is not modeled by the schema baseline`);
  }

  #statement(node: Node): void {
    const kind = nodeKind(node);
    if ('CreateStmt' in node) return this.#createTable(node.CreateStmt);
    if ('AlterTableStmt' in node) return this.#alterTable(node.AlterTableStmt);
    if ('IndexStmt' in node) return this.#createIndex(node.IndexStmt);
    if ('DropStmt' in node) return this.#drop(node.DropStmt);
    if ('RenameStmt' in node) return this.#rename(node.RenameStmt);
    if ('AlterObjectSchemaStmt' in node) {
      const s = node.AlterObjectSchemaStmt;
      if (s.objectType !== 'OBJECT_TABLE' || s.relation === undefined || s.newschema === undefined) return this.#unmodeled(`ALTER ${objectLabel(s.objectType)} ... SET SCHEMA`);
      return this.#setSchema(s.relation, s.newschema, s.missing_ok === true);
    }
    if ('CreateSchemaStmt' in node) {
      const s = node.CreateSchemaStmt;
      if (s.schemaname === undefined) return this.#unmodeled('CREATE SCHEMA AUTHORIZATION without a schema name');
      const outer = this.#searchPath;
      this.#searchPath = [s.schemaname, ...outer];
      for (const element of s.schemaElts ?? []) this.#statement(element);
      this.#searchPath = outer;
      return;
    }
    if ('VariableSetStmt' in node) {
      const s = node.VariableSetStmt;
      if (s.kind === 'VAR_RESET_ALL') this.#searchPath = this.#initialPath;
      else if (s.name === 'search_path') {
        if (s.kind === 'VAR_SET_VALUE') {
          const path = (s.args ?? []).map((a) => ('A_Const' in a ? a.A_Const.sval?.sval : stringValue(a)));
          if (path.some((p) => p === undefined)) return this.#unmodeled('this SET search_path');
          this.#searchPath = path as string[];
        } else if (s.kind === 'VAR_RESET' || s.kind === 'VAR_SET_DEFAULT') this.#searchPath = this.#initialPath;
        else return this.#unmodeled('this SET search_path');
      }
      return;
    }
    if ('SelectStmt' in node) {
      if (node.SelectStmt.intoClause !== undefined) this.#unmodeled('SELECT INTO');
      return;
    }
    if ('ExplainStmt' in node) {
      // EXPLAIN ANALYZE runs its statement.
      const analyze = (node.ExplainStmt.options ?? []).some((o) => 'DefElem' in o && o.DefElem.defname === 'analyze');
      if (analyze && node.ExplainStmt.query !== undefined) this.#statement(node.ExplainStmt.query);
      return;
    }
    if ('CreateTableAsStmt' in node) {
      if (node.CreateTableAsStmt.objtype === 'OBJECT_MATVIEW') return;
      return this.#unmodeled('CREATE TABLE AS');
    }
    if ('AlterEnumStmt' in node) {
      if (node.AlterEnumStmt.oldVal !== undefined) this.#unmodeled('ALTER TYPE ... RENAME VALUE');
      return;
    }
    if (kind === 'DoStmt') return this.#unmodeled('a DO block (code the model cannot follow)');
    if (kind === 'CallStmt') return this.#unmodeled('CALL (a procedure the model cannot follow)');
    if (kind === 'ExecuteStmt' || kind === 'PrepareStmt') return this.#unmodeled('dynamic SQL (PREPARE/EXECUTE)');
    if (NEUTRAL_STATEMENTS.has(kind)) {
      if (isReplacing(node)) this.#unmodeled(`CREATE OR REPLACE (${kind})`);
      return;
    }
    this.#unmodeled(`the statement ${kind}`);
  }

  // --- lookups -----------------------------------------------------------

  /** Schemas searched for unqualified names, in order. */
  #path(): string[] {
    return this.#searchPath.filter((s) => s !== '$user' && s !== '"$user"' && s !== 'pg_temp' && s !== 'pg_catalog');
  }

  #creationSchema(rv: RangeVar): string | undefined {
    const schema = rv.schemaname ?? this.#path()[0];
    if (schema === undefined) this.#issue(`no schema to create ${rv.relname ?? ''} in: the search path is empty`);
    return schema;
  }

  #findTable(rv: RangeVar): WorkTable | undefined {
    const name = rv.relname ?? '';
    if (rv.schemaname !== undefined) return this.#tables.get(qualifiedName(rv.schemaname, name));
    for (const schema of this.#path()) {
      const table = this.#tables.get(qualifiedName(schema, name));
      if (table !== undefined) return table;
    }
    return undefined;
  }

  #tableName(rv: RangeVar): string {
    return rv.schemaname === undefined ? quoteIdent(rv.relname ?? '') : qualifiedName(rv.schemaname, rv.relname ?? '');
  }

  /** The table of an index, or of a constraint backed by an index, named `name`. */
  #findIndexOwner(schemaName: string | undefined, name: string): { table: WorkTable; kind: 'index' | 'constraint' } | undefined {
    const schemas = schemaName === undefined ? this.#path() : [schemaName];
    for (const schema of schemas) {
      for (const table of this.#tables.values()) {
        if (table.schema !== schema) continue;
        if (table.indexes.some((i) => i.name === name)) return { table, kind: 'index' };
        if (indexBackedNames(table).includes(name)) return { table, kind: 'constraint' };
      }
    }
    return undefined;
  }

  /** True when a table, index or constraint index in `schema` is named `name` (one namespace in PostgreSQL). */
  #relationTaken(schema: string, name: string): boolean {
    for (const table of this.#tables.values()) {
      if (table.schema !== schema) continue;
      if (table.name === name || table.indexes.some((i) => i.name === name) || indexBackedNames(table).includes(name)) return true;
    }
    return false;
  }

  #constraintTaken(schema: string, name: string): boolean {
    for (const table of this.#tables.values()) {
      if (table.schema === schema && constraintNames(table).includes(name)) return true;
    }
    return false;
  }

  #render(node: Node): string {
    return renderExpression(node, this.#path()[0] ?? 'public');
  }

  // --- CREATE TABLE ------------------------------------------------------

  #createTable(s: CreateStmt): void {
    const rv = s.relation;
    if (rv === undefined) return this.#unmodeled('CREATE TABLE without a name');
    if (rv.relpersistence === 't' || rv.schemaname === 'pg_temp') return this.#unmodeled('a temporary table');
    if ((s.inhRelations ?? []).length > 0) return this.#unmodeled('CREATE TABLE ... INHERITS');
    if (s.partbound !== undefined) return this.#unmodeled('CREATE TABLE ... PARTITION OF');
    if (s.ofTypename !== undefined) return this.#unmodeled('CREATE TABLE ... OF type');
    const schema = this.#creationSchema(rv);
    if (schema === undefined) return;
    const name = rv.relname ?? '';
    const key = qualifiedName(schema, name);
    if (this.#tables.has(key) || this.#relationTaken(schema, name)) {
      if (s.if_not_exists !== true) this.#issue(`CREATE TABLE ${key}: a relation of that name already exists (the script would fail)`);
      return;
    }
    const table: WorkTable = {
      schema,
      name,
      origin: null,
      columns: [],
      primaryKey: undefined,
      uniques: [],
      foreignKeys: [],
      checks: [],
      exclusions: [],
      indexes: [],
    };
    this.#tables.set(key, table);
    const pending: PendingConstraint[] = [];
    for (const element of s.tableElts ?? []) {
      if ('ColumnDef' in element) this.#addColumn(table, element.ColumnDef, pending, false);
      else if ('Constraint' in element) pending.push({ constraint: element.Constraint });
      else this.#unmodeled(`${nodeKind(element)} in CREATE TABLE`);
    }
    this.#addConstraints(table, pending, true);
  }

  #addColumn(table: WorkTable, def: ColumnDef, pending: PendingConstraint[], ifNotExists: boolean): void {
    const name = def.colname ?? '';
    if (table.columns.some((c) => c.name === name)) {
      if (!ifNotExists) this.#issue(`column ${name} of ${qualifiedName(table.schema, table.name)} already exists (the script would fail)`);
      return;
    }
    if (def.typeName === undefined) return this.#unmodeled(`column ${name} without a type`);
    const type = normalizeTypeName(def.typeName, this.#path()[0] ?? table.schema);
    if (!type.ok) return this.#issue(`column ${name}: ${type.message}`);
    const column: WorkColumn = { name, type: type.type, notNull: false, origin: null };
    if (type.serial === true) {
      const sequence = chooseName(table.name, name, 'seq', (n) => this.#relationTaken(table.schema, n));
      column.notNull = true;
      column.default = `nextval(${quoteLiteral(qualifiedName(table.schema, sequence))})`;
    }
    for (const c of def.constraints ?? []) {
      if (!('Constraint' in c)) continue;
      const constraint = c.Constraint;
      switch (constraint.contype) {
        case 'CONSTR_NOTNULL':
          column.notNull = true;
          break;
        case 'CONSTR_DEFAULT':
          if (constraint.raw_expr !== undefined) column.default = this.#render(constraint.raw_expr);
          break;
        case 'CONSTR_IDENTITY':
          column.identity = constraint.generated_when === 'a' ? 'always' : 'by-default';
          column.notNull = true;
          break;
        case 'CONSTR_GENERATED':
          if (constraint.raw_expr !== undefined) column.generated = this.#render(constraint.raw_expr);
          break;
        case 'CONSTR_CHECK':
        case 'CONSTR_PRIMARY':
        case 'CONSTR_UNIQUE':
        case 'CONSTR_FOREIGN':
        case 'CONSTR_EXCLUSION':
          pending.push({ constraint, column: name });
          break;
        default:
          // NULL and the deferrability attributes change nothing the model holds.
          break;
      }
    }
    table.columns.push(column);
  }

  /**
   * Adds constraints in the order PostgreSQL names them: checks while the
   * table is created, then the indexes of keys, then foreign keys.
   */
  #addConstraints(table: WorkTable, pending: readonly PendingConstraint[], inCreate: boolean): void {
    const order = (p: PendingConstraint): number =>
      p.constraint.contype === 'CONSTR_CHECK' ? 0 : p.constraint.contype === 'CONSTR_FOREIGN' ? 2 : 1;
    const added: { name: string; columns: readonly string[]; nullsNotDistinct: boolean }[] = [];
    for (const p of [...pending].sort((a, b) => order(a) - order(b))) {
      const c = p.constraint;
      switch (c.contype) {
        case 'CONSTR_CHECK':
          this.#addCheck(table, c);
          break;
        case 'CONSTR_PRIMARY':
        case 'CONSTR_UNIQUE': {
          const columns = p.column === undefined ? names(c.keys) : [p.column];
          // CREATE TABLE folds a key that repeats an earlier one into it (a primary key wins).
          const nullsNotDistinct = c.nulls_not_distinct === true;
          const earlier = inCreate && c.indexname === undefined ? added.find((a) => sameList(a.columns, columns) && a.nullsNotDistinct === nullsNotDistinct) : undefined;
          if (earlier !== undefined) {
            if (c.contype !== 'CONSTR_PRIMARY' || table.primaryKey !== undefined) continue;
            table.uniques = table.uniques.filter((u) => u.name !== earlier.name);
          }
          const name = this.#addKey(table, c, columns);
          if (name !== undefined) added.push({ name, columns, nullsNotDistinct });
          break;
        }
        case 'CONSTR_EXCLUSION':
          this.#addExclusion(table, c);
          break;
        case 'CONSTR_FOREIGN':
          this.#addForeignKey(table, c, p.column);
          break;
        default:
          this.#unmodeled(`the constraint ${c.contype ?? 'without a type'}`);
      }
    }
  }

  #checkColumns(table: WorkTable, columns: readonly string[], what: string): boolean {
    const missing = columns.filter((n) => !table.columns.some((c) => c.name === n));
    if (missing.length === 0) return true;
    this.#issue(`${what} on ${qualifiedName(table.schema, table.name)}: no column ${missing.join(', ')} (the script would fail)`);
    return false;
  }

  #constraintNameFree(table: WorkTable, name: string): boolean {
    if (!constraintNames(table).includes(name)) return true;
    this.#issue(`constraint ${name} of ${qualifiedName(table.schema, table.name)} already exists (the script would fail)`);
    return false;
  }

  #addCheck(table: WorkTable, c: Constraint): void {
    if (c.raw_expr === undefined) return this.#unmodeled('a CHECK without a condition');
    const expression = this.#render(c.raw_expr);
    const referenced = [...referencedColumns(expression)];
    const name =
      c.conname ??
      chooseName(table.name, referenced.length === 1 ? referenced[0] : undefined, 'check', (n) => this.#constraintTaken(table.schema, n));
    if (!this.#constraintNameFree(table, name)) return;
    table.checks.push({ name, expression });
  }

  /** Adds a primary key or unique constraint; its name, or undefined when it could not. */
  #addKey(table: WorkTable, c: Constraint, keyColumns: readonly string[]): string | undefined {
    const primary = c.contype === 'CONSTR_PRIMARY';
    if (primary && table.primaryKey !== undefined) {
      this.#issue(`${qualifiedName(table.schema, table.name)} already has a primary key (the script would fail)`);
      return undefined;
    }
    let columns = keyColumns;
    let name = c.conname;
    if (c.indexname !== undefined) {
      // ADD ... USING INDEX: the index becomes the constraint's, renamed to it.
      const index = table.indexes.find((i) => i.name === c.indexname);
      if (index === undefined || !index.unique || index.where !== undefined || index.include !== undefined || index.method !== 'btree') {
        this.#issue(`${c.indexname} is not a plain unique index of ${qualifiedName(table.schema, table.name)} (the script would fail)`);
        return undefined;
      }
      columns = index.columns;
      if (!columns.every((k) => table.columns.some((col) => quoteIdent(col.name) === k))) {
        this.#issue(`index ${index.name} has expressions or sort options and cannot back a key (the script would fail)`);
        return undefined;
      }
      columns = columns.map((k) => table.columns.find((col) => quoteIdent(col.name) === k)?.name ?? k);
      table.indexes = table.indexes.filter((i) => i !== index);
      name ??= index.name;
    }
    if (!this.#checkColumns(table, columns, primary ? 'PRIMARY KEY' : 'UNIQUE')) return undefined;
    name ??= chooseName(table.name, primary ? undefined : nameAddition(columns), primary ? 'pkey' : 'key', (n) => this.#relationTaken(table.schema, n) || this.#constraintTaken(table.schema, n));
    if (!this.#constraintNameFree(table, name)) return undefined;
    if (this.#relationTaken(table.schema, name)) {
      this.#issue(`a relation named ${name} already exists in schema ${table.schema} (the script would fail)`);
      return undefined;
    }
    if (primary) {
      table.primaryKey = { name, columns: [...columns] };
      for (const column of table.columns) if (columns.includes(column.name)) column.notNull = true;
    } else {
      table.uniques.push({ name, columns: [...columns], ...(c.nulls_not_distinct === true ? { nullsNotDistinct: true as const } : {}) });
    }
    return name;
  }

  #addExclusion(table: WorkTable, c: Constraint): void {
    const elements: string[] = [];
    const keys: string[] = [];
    for (const pair of c.exclusions ?? []) {
      const items = 'List' in pair ? (pair.List.items ?? []) : [];
      const elem = items[0];
      const op = items[1];
      if (elem === undefined || !('IndexElem' in elem) || op === undefined || !('List' in op)) return this.#unmodeled('this EXCLUDE constraint');
      const operator = (op.List.items ?? []).map((o) => stringValue(o) ?? '').join('.');
      elements.push(`${this.#indexKey(elem.IndexElem)} WITH ${operator}`);
      keys.push(indexKeyName(elem.IndexElem));
    }
    const where = c.where_clause === undefined ? '' : ` WHERE (${this.#render(c.where_clause)})`;
    const definition = `USING ${c.access_method ?? 'gist'} (${elements.join(', ')})${where}`;
    const name = c.conname ?? chooseName(table.name, nameAddition(indexColumnNames(keys)), 'excl', (n) => this.#relationTaken(table.schema, n) || this.#constraintTaken(table.schema, n));
    if (!this.#constraintNameFree(table, name)) return;
    table.exclusions.push({ name, definition });
  }

  #addForeignKey(table: WorkTable, c: Constraint, column: string | undefined): void {
    const columns = column === undefined ? names(c.fk_attrs) : [column];
    if (!this.#checkColumns(table, columns, 'FOREIGN KEY')) return;
    if (c.pktable === undefined) return this.#unmodeled('a FOREIGN KEY without a referenced table');
    const target = this.#findTable(c.pktable);
    let referenced = names(c.pk_attrs);
    if (referenced.length === 0) {
      if (target?.primaryKey === undefined) {
        return this.#issue(`FOREIGN KEY on ${qualifiedName(table.schema, table.name)}: ${this.#tableName(c.pktable)} has no primary key the model knows (the script would fail)`);
      }
      referenced = [...target.primaryKey.columns];
    }
    // A table outside the baseline (another schema) may be referenced by a qualified name.
    if (target === undefined && c.pktable.schemaname === undefined) {
      return this.#issue(`FOREIGN KEY on ${qualifiedName(table.schema, table.name)}: no table ${this.#tableName(c.pktable)} (the script would fail)`);
    }
    const referencedTable = target === undefined ? qualifiedName(c.pktable.schemaname ?? '', c.pktable.relname ?? '') : qualifiedName(target.schema, target.name);
    const name = c.conname ?? chooseName(table.name, nameAddition(columns), 'fkey', (n) => this.#constraintTaken(table.schema, n));
    if (!this.#constraintNameFree(table, name)) return;
    const onDelete = REFERENTIAL_ACTIONS[c.fk_del_action ?? 'a'];
    const onUpdate = REFERENTIAL_ACTIONS[c.fk_upd_action ?? 'a'];
    table.foreignKeys.push({
      name,
      columns,
      references: { table: referencedTable, columns: referenced },
      ...(onDelete === undefined ? {} : { onDelete }),
      ...(onUpdate === undefined ? {} : { onUpdate }),
    });
  }

  // --- CREATE INDEX ------------------------------------------------------

  #indexKey(e: IndexElem): string {
    let key = e.name !== undefined ? quoteIdent(e.name) : e.expr !== undefined ? this.#render(e.expr) : '';
    if ((e.collation ?? []).length > 0) key += ` COLLATE ${(e.collation ?? []).map((n) => quoteIdent(stringValue(n) ?? '')).join('.')}`;
    if ((e.opclass ?? []).length > 0) {
      const parts = (e.opclass ?? []).map((n) => stringValue(n) ?? '');
      if (parts.length === 2 && parts[0] === 'pg_catalog') parts.shift();
      key += ` ${parts.map(quoteIdent).join('.')}`;
    }
    const options = (e.opclassopts ?? []).flatMap((o) => ('DefElem' in o ? [o.DefElem] : []));
    if (options.length > 0) key += ` (${options.map((o) => `${quoteIdent(o.defname ?? '')}=${o.arg === undefined ? '' : this.#render(o.arg)}`).join(', ')})`;
    const desc = e.ordering === 'SORTBY_DESC';
    if (desc) key += ' DESC';
    // pg_get_indexdef prints NULLS only when it is not the default for the direction.
    if (desc && e.nulls_ordering === 'SORTBY_NULLS_LAST') key += ' NULLS LAST';
    if (!desc && e.nulls_ordering === 'SORTBY_NULLS_FIRST') key += ' NULLS FIRST';
    return key;
  }

  #createIndex(s: IndexStmt): void {
    if (s.relation === undefined) return this.#unmodeled('CREATE INDEX without a table');
    const table = this.#findTable(s.relation);
    if (table === undefined) return this.#issue(`CREATE INDEX: no table ${this.#tableName(s.relation)} (the script would fail)`);
    const elems = (s.indexParams ?? []).flatMap((p) => ('IndexElem' in p ? [p.IndexElem] : []));
    const included = (s.indexIncludingParams ?? []).flatMap((p) => ('IndexElem' in p ? [p.IndexElem] : []));
    const columns = elems.map((e) => this.#indexKey(e));
    const include = included.map((e) => quoteIdent(e.name ?? ''));
    const name = s.idxname ?? chooseName(table.name, nameAddition(indexColumnNames([...elems, ...included].map(indexKeyName))), 'idx', (n) => this.#relationTaken(table.schema, n));
    if (this.#relationTaken(table.schema, name)) {
      if (s.if_not_exists !== true) this.#issue(`CREATE INDEX ${name}: a relation of that name already exists in schema ${table.schema} (the script would fail)`);
      return;
    }
    const missing = [...columns, ...include].flatMap((k) => [...referencedColumns(k)]).filter((n) => !table.columns.some((c) => c.name === n));
    if (missing.length > 0) return this.#issue(`CREATE INDEX ${name}: no column ${missing.join(', ')} in ${qualifiedName(table.schema, table.name)} (the script would fail)`);
    table.indexes.push({
      name,
      columns,
      unique: s.unique === true,
      method: s.accessMethod ?? 'btree',
      ...(s.whereClause === undefined ? {} : { where: this.#render(s.whereClause) }),
      ...(include.length === 0 ? {} : { include }),
      ...(s.nulls_not_distinct === true ? { nullsNotDistinct: true as const } : {}),
    });
  }

  // --- DROP ----------------------------------------------------------------

  #drop(s: DropStmt): void {
    const cascade = s.behavior === 'DROP_CASCADE';
    const missingOk = s.missing_ok === true;
    switch (s.removeType) {
      case 'OBJECT_TABLE':
        for (const object of s.objects ?? []) {
          const rv = rangeVarOf(object);
          if (rv === undefined) return this.#unmodeled('this DROP TABLE');
          const table = this.#findTable(rv);
          if (table === undefined) {
            if (!missingOk) this.#issue(`DROP TABLE: no table ${this.#tableName(rv)} (the script would fail)`);
            continue;
          }
          this.#dropTable(table, cascade);
        }
        return;
      case 'OBJECT_INDEX':
        for (const object of s.objects ?? []) {
          const rv = rangeVarOf(object);
          if (rv === undefined) return this.#unmodeled('this DROP INDEX');
          const owner = this.#findIndexOwner(rv.schemaname, rv.relname ?? '');
          if (owner === undefined) {
            if (!missingOk) this.#issue(`DROP INDEX: no index ${this.#tableName(rv)} (the script would fail)`);
            continue;
          }
          if (owner.kind === 'constraint') {
            this.#issue(`DROP INDEX ${rv.relname ?? ''}: a constraint of ${qualifiedName(owner.table.schema, owner.table.name)} requires it (the script would fail)`);
            continue;
          }
          const index = owner.table.indexes.find((i) => i.name === rv.relname);
          const key = qualifiedName(owner.table.schema, owner.table.name);
          const keyColumns = index?.unique === true && index.where === undefined ? index.columns : [];
          const fkUses = (fk: ForeignKeySchema): boolean => fk.references.table === key && sameSet(fk.references.columns.map(quoteIdent), keyColumns);
          const dependents = [...this.#tables.values()].filter((t) => t.foreignKeys.some(fkUses));
          if (dependents.length > 0 && !cascade) {
            this.#issue(`DROP INDEX ${rv.relname ?? ''}: foreign keys reference it (the script would fail without CASCADE)`);
            continue;
          }
          for (const t of dependents) t.foreignKeys = t.foreignKeys.filter((fk) => !fkUses(fk));
          owner.table.indexes = owner.table.indexes.filter((i) => i !== index);
        }
        return;
      case 'OBJECT_SCHEMA':
        for (const object of s.objects ?? []) {
          const schema = stringValue(object) ?? '';
          const tables = [...this.#tables.values()].filter((t) => t.schema === schema);
          if (tables.length > 0 && !cascade) {
            this.#issue(`DROP SCHEMA ${quoteIdent(schema)}: it still holds ${tables.length} table(s) (the script would fail without CASCADE)`);
            continue;
          }
          for (const table of tables) this.#dropTable(table, true);
        }
        return;
      default:
        return this.#unmodeled(`DROP ${objectLabel(s.removeType)}`);
    }
  }

  #dropTable(table: WorkTable, cascade: boolean): void {
    const key = qualifiedName(table.schema, table.name);
    const dependents = [...this.#tables.values()].filter((t) => t !== table && t.foreignKeys.some((fk) => fk.references.table === key));
    if (dependents.length > 0 && !cascade) {
      const names = dependents.map((t) => qualifiedName(t.schema, t.name)).join(', ');
      this.#issue(`DROP TABLE ${key}: foreign keys of ${names} reference it (the script would fail without CASCADE)`);
      return;
    }
    for (const t of dependents) t.foreignKeys = t.foreignKeys.filter((fk) => fk.references.table !== key);
    this.#tables.delete(key);
  }

  // --- RENAME, SET SCHEMA --------------------------------------------------

  #rename(s: RenameStmt): void {
    const newName = s.newname ?? '';
    const missingOk = s.missing_ok === true;
    if (s.renameType === 'OBJECT_SCHEMA') {
      const from = s.subname ?? '';
      for (const table of [...this.#tables.values()].filter((t) => t.schema === from)) this.#moveTable(table, newName, table.name);
      return;
    }
    if (s.relation === undefined) return this.#unmodeled(`ALTER ${objectLabel(s.renameType)} ... RENAME`);
    if (s.renameType === 'OBJECT_INDEX') {
      const owner = this.#findIndexOwner(s.relation.schemaname, s.relation.relname ?? '');
      if (owner === undefined) {
        if (!missingOk) this.#issue(`ALTER INDEX: no index ${this.#tableName(s.relation)} (the script would fail)`);
        return;
      }
      if (this.#relationTaken(owner.table.schema, newName)) return this.#issue(`ALTER INDEX ... RENAME TO ${newName}: a relation of that name already exists (the script would fail)`);
      renameIndexOrConstraint(owner.table, s.relation.relname ?? '', newName);
      return;
    }
    if (s.renameType !== 'OBJECT_TABLE' && s.renameType !== 'OBJECT_COLUMN' && s.renameType !== 'OBJECT_TABCONSTRAINT') {
      return this.#unmodeled(`ALTER ${objectLabel(s.renameType)} ... RENAME`);
    }
    if (s.renameType === 'OBJECT_COLUMN' && s.relationType !== 'OBJECT_TABLE') return this.#unmodeled(`ALTER ${objectLabel(s.relationType)} ... RENAME COLUMN`);
    const table = this.#findTable(s.relation);
    if (table === undefined) {
      if (!missingOk) this.#issue(`RENAME: no table ${this.#tableName(s.relation)} (the script would fail)`);
      return;
    }
    if (s.renameType === 'OBJECT_TABLE') {
      if (this.#relationTaken(table.schema, newName)) return this.#issue(`ALTER TABLE ... RENAME TO ${newName}: a relation of that name already exists (the script would fail)`);
      this.#moveTable(table, table.schema, newName);
    } else if (s.renameType === 'OBJECT_COLUMN') {
      this.#renameColumn(table, s.subname ?? '', newName);
    } else {
      const from = s.subname ?? '';
      if (!constraintNames(table).includes(from)) return this.#issue(`RENAME CONSTRAINT: ${qualifiedName(table.schema, table.name)} has no constraint ${from} (the script would fail)`);
      if (!this.#constraintNameFree(table, newName)) return;
      renameIndexOrConstraint(table, from, newName);
    }
  }

  #setSchema(rv: RangeVar, schema: string, missingOk: boolean): void {
    const table = this.#findTable(rv);
    if (table === undefined) {
      if (!missingOk) this.#issue(`SET SCHEMA: no table ${this.#tableName(rv)} (the script would fail)`);
      return;
    }
    if (this.#relationTaken(schema, table.name)) return this.#issue(`SET SCHEMA ${quoteIdent(schema)}: a relation named ${table.name} already exists there (the script would fail)`);
    this.#moveTable(table, schema, table.name);
  }

  /** Renames or moves a table; foreign keys follow it, as they refer to it by identity. */
  #moveTable(table: WorkTable, schema: string, name: string): void {
    const oldKey = qualifiedName(table.schema, table.name);
    const newKey = qualifiedName(schema, name);
    this.#tables.delete(oldKey);
    table.schema = schema;
    table.name = name;
    this.#tables.set(newKey, table);
    for (const t of this.#tables.values()) {
      t.foreignKeys = t.foreignKeys.map((fk) => (fk.references.table === oldKey ? { ...fk, references: { ...fk.references, table: newKey } } : fk));
    }
  }

  #renameColumn(table: WorkTable, from: string, to: string): void {
    const column = table.columns.find((c) => c.name === from);
    if (column === undefined) return this.#issue(`RENAME COLUMN: ${qualifiedName(table.schema, table.name)} has no column ${from} (the script would fail)`);
    if (table.columns.some((c) => c.name === to)) return this.#issue(`RENAME COLUMN: ${qualifiedName(table.schema, table.name)} already has a column ${to} (the script would fail)`);
    column.name = to;
    const swap = (columns: readonly string[]): string[] => columns.map((c) => (c === from ? to : c));
    const expr = (sql: string): string => renameColumnReferences(sql, from, to);
    for (const c of table.columns) if (c.generated !== undefined) c.generated = expr(c.generated);
    if (table.primaryKey !== undefined) table.primaryKey = { ...table.primaryKey, columns: swap(table.primaryKey.columns) };
    table.uniques = table.uniques.map((u) => ({ ...u, columns: swap(u.columns) }));
    table.foreignKeys = table.foreignKeys.map((fk) => ({ ...fk, columns: swap(fk.columns) }));
    table.checks = table.checks.map((c) => ({ ...c, expression: expr(c.expression) }));
    table.exclusions = table.exclusions.map((x) => ({ ...x, definition: expr(x.definition) }));
    table.indexes = table.indexes.map((i) => ({
      ...i,
      columns: i.columns.map(expr),
      ...(i.include === undefined ? {} : { include: i.include.map(expr) }),
      ...(i.where === undefined ? {} : { where: expr(i.where) }),
    }));
    const key = qualifiedName(table.schema, table.name);
    for (const t of this.#tables.values()) {
      t.foreignKeys = t.foreignKeys.map((fk) => (fk.references.table === key ? { ...fk, references: { ...fk.references, columns: swap(fk.references.columns) } } : fk));
    }
  }

  // --- ALTER TABLE ---------------------------------------------------------

  #alterTable(s: AlterTableStmt): void {
    const commands = (s.cmds ?? []).flatMap((c) => ('AlterTableCmd' in c ? [c.AlterTableCmd] : []));
    if (s.objtype === 'OBJECT_INDEX') {
      const other = commands.find((c) => !NEUTRAL_INDEX_COMMANDS.has(c.subtype ?? ''));
      if (other !== undefined) this.#unmodeled(`ALTER INDEX (${other.subtype ?? 'unknown'})`);
      return;
    }
    if (s.objtype !== 'OBJECT_TABLE') return this.#unmodeled(`ALTER ${objectLabel(s.objtype)}`);
    if (s.relation === undefined) return this.#unmodeled('ALTER TABLE without a table');
    const table = this.#findTable(s.relation);
    if (table === undefined) {
      if (s.missing_ok !== true) this.#issue(`ALTER TABLE: no table ${this.#tableName(s.relation)} (the script would fail)`);
      return;
    }
    for (const command of commands) this.#alterTableCommand(table, command);
  }

  #alterTableCommand(table: WorkTable, cmd: AlterTableCmd): void {
    const subtype = cmd.subtype ?? '';
    const tableName = qualifiedName(table.schema, table.name);
    if (NEUTRAL_TABLE_COMMANDS.has(subtype)) return;
    if (subtype === 'AT_AddColumn') {
      if (cmd.def === undefined || !('ColumnDef' in cmd.def)) return this.#unmodeled('this ADD COLUMN');
      const pending: PendingConstraint[] = [];
      const before = table.columns.length;
      this.#addColumn(table, cmd.def.ColumnDef, pending, cmd.missing_ok === true);
      if (table.columns.length > before) this.#addConstraints(table, pending, false);
      return;
    }
    if (subtype === 'AT_AddConstraint') {
      if (cmd.def === undefined || !('Constraint' in cmd.def)) return this.#unmodeled('this ADD CONSTRAINT');
      return this.#addConstraints(table, [{ constraint: cmd.def.Constraint }], false);
    }
    if (subtype === 'AT_DropConstraint') return this.#dropConstraint(table, cmd.name ?? '', cmd.behavior === 'DROP_CASCADE', cmd.missing_ok === true);
    const name = cmd.name ?? '';
    const column = table.columns.find((c) => c.name === name);
    if (column === undefined) {
      if (!(subtype === 'AT_DropColumn' && cmd.missing_ok === true)) this.#issue(`ALTER TABLE ${tableName}: no column ${name} (the script would fail)`);
      return;
    }
    switch (subtype) {
      case 'AT_DropColumn':
        return this.#dropColumn(table, column, cmd.behavior === 'DROP_CASCADE');
      case 'AT_AlterColumnType': {
        if (cmd.def === undefined || !('ColumnDef' in cmd.def) || cmd.def.ColumnDef.typeName === undefined) return this.#unmodeled('this ALTER COLUMN TYPE');
        const type = normalizeTypeName(cmd.def.ColumnDef.typeName, this.#path()[0] ?? table.schema);
        if (!type.ok) return this.#issue(`ALTER COLUMN ${name} TYPE: ${type.message}`);
        if (type.serial === true) return this.#issue(`ALTER COLUMN ${name} TYPE: serial is not a type (the script would fail)`);
        column.type = type.type;
        return;
      }
      case 'AT_SetNotNull':
        column.notNull = true;
        return;
      case 'AT_DropNotNull':
        if (table.primaryKey?.columns.includes(name) === true || column.identity !== undefined) {
          return this.#issue(`ALTER COLUMN ${name} DROP NOT NULL: the column is in the primary key or an identity (the script would fail)`);
        }
        column.notNull = false;
        return;
      case 'AT_ColumnDefault':
        if (cmd.def === undefined) delete column.default;
        else column.default = this.#render(cmd.def);
        return;
      case 'AT_AddIdentity':
        if (!column.notNull) return this.#issue(`ALTER COLUMN ${name} ADD IDENTITY: the column must be NOT NULL first (the script would fail)`);
        column.identity = cmd.def !== undefined && 'Constraint' in cmd.def && cmd.def.Constraint.generated_when === 'a' ? 'always' : 'by-default';
        return;
      case 'AT_SetIdentity': {
        if (column.identity === undefined) return this.#issue(`ALTER COLUMN ${name} SET GENERATED: not an identity column (the script would fail)`);
        const items = cmd.def !== undefined && 'List' in cmd.def ? (cmd.def.List.items ?? []) : [];
        for (const item of items) {
          if (!('DefElem' in item) || item.DefElem.defname !== 'generated') continue;
          const arg = item.DefElem.arg;
          const code = arg !== undefined && 'Integer' in arg ? arg.Integer.ival : undefined;
          column.identity = code === 'a'.charCodeAt(0) ? 'always' : 'by-default';
        }
        return;
      }
      case 'AT_DropIdentity':
        if (column.identity === undefined && cmd.missing_ok !== true) return this.#issue(`ALTER COLUMN ${name} DROP IDENTITY: not an identity column (the script would fail)`);
        delete column.identity;
        return;
      case 'AT_DropExpression':
        delete column.generated;
        return;
      case 'AT_SetExpression':
        if (cmd.def === undefined || column.generated === undefined) return this.#unmodeled('this SET EXPRESSION');
        column.generated = this.#render(cmd.def);
        return;
      default:
        return this.#unmodeled(`ALTER TABLE (${subtype})`);
    }
  }

  #dropColumn(table: WorkTable, column: WorkColumn, cascade: boolean): void {
    const name = column.name;
    const key = qualifiedName(table.schema, table.name);
    // Foreign keys that reference the column (other than the table's own keys on it, which go with it).
    const referencesIt = (t: WorkTable, fk: ForeignKeySchema): boolean =>
      fk.references.table === key && fk.references.columns.includes(name) && !(t === table && fk.columns.includes(name));
    const referencing = [...this.#tables.values()].filter((t) => t.foreignKeys.some((fk) => referencesIt(t, fk)));
    const generated = table.columns.filter((c) => c !== column && c.generated !== undefined && referencedColumns(c.generated).has(name));
    if (!cascade && (referencing.length > 0 || generated.length > 0)) {
      return this.#issue(`DROP COLUMN ${name} of ${key}: other objects depend on it (the script would fail without CASCADE)`);
    }
    for (const t of referencing) t.foreignKeys = t.foreignKeys.filter((fk) => !referencesIt(t, fk));
    table.columns = table.columns.filter((c) => c !== column);
    // Indexes and constraints on the column go with it.
    const uses = (sql: string): boolean => referencedColumns(sql).has(name);
    if (table.primaryKey?.columns.includes(name) === true) table.primaryKey = undefined;
    table.uniques = table.uniques.filter((u) => !u.columns.includes(name));
    table.foreignKeys = table.foreignKeys.filter((fk) => !fk.columns.includes(name));
    table.checks = table.checks.filter((c) => !uses(c.expression));
    table.exclusions = table.exclusions.filter((x) => !uses(x.definition));
    table.indexes = table.indexes.filter((i) => ![...i.columns, ...(i.include ?? []), i.where ?? ''].some(uses));
    for (const g of generated) if (table.columns.includes(g)) this.#dropColumn(table, g, true);
  }

  #dropConstraint(table: WorkTable, name: string, cascade: boolean, missingOk: boolean): void {
    const key = qualifiedName(table.schema, table.name);
    const keyColumns = table.primaryKey?.name === name ? table.primaryKey.columns : table.uniques.find((u) => u.name === name)?.columns;
    if (keyColumns !== undefined) {
      const referencing = [...this.#tables.values()].filter((t) => t.foreignKeys.some((fk) => fk.references.table === key && sameSet(fk.references.columns, keyColumns)));
      if (referencing.length > 0 && !cascade) {
        return this.#issue(`DROP CONSTRAINT ${name} of ${key}: foreign keys reference it (the script would fail without CASCADE)`);
      }
      for (const t of referencing) t.foreignKeys = t.foreignKeys.filter((fk) => !(fk.references.table === key && sameSet(fk.references.columns, keyColumns)));
    }
    if (!constraintNames(table).includes(name)) {
      if (!missingOk) this.#issue(`DROP CONSTRAINT: ${key} has no constraint ${name} (the script would fail)`);
      return;
    }
    if (table.primaryKey?.name === name) table.primaryKey = undefined;
    table.uniques = table.uniques.filter((u) => u.name !== name);
    table.foreignKeys = table.foreignKeys.filter((fk) => fk.name !== name);
    table.checks = table.checks.filter((c) => c.name !== name);
    table.exclusions = table.exclusions.filter((x) => x.name !== name);
  }
}

function loadTable(key: string, t: TableSchema): WorkTable {
  return {
    schema: t.schema,
    name: t.name,
    origin: key,
    columns: t.columns.map((c) => ({ ...c, origin: c.name })),
    primaryKey: t.primaryKey,
    uniques: [...t.uniques],
    foreignKeys: [...t.foreignKeys],
    checks: [...t.checks],
    exclusions: [...t.exclusions],
    indexes: [...t.indexes],
  };
}

/** Names of the constraints that own an index (and so a relation name). */
function indexBackedNames(t: WorkTable): string[] {
  return [...(t.primaryKey === undefined ? [] : [t.primaryKey.name]), ...t.uniques.map((u) => u.name), ...t.exclusions.map((x) => x.name)];
}

function constraintNames(t: WorkTable): string[] {
  return [...indexBackedNames(t), ...t.foreignKeys.map((fk) => fk.name), ...t.checks.map((c) => c.name)];
}

function renameIndexOrConstraint(t: WorkTable, from: string, to: string): void {
  if (t.primaryKey?.name === from) t.primaryKey = { ...t.primaryKey, name: to };
  const rename = <T extends { readonly name: string }>(items: T[]): T[] => items.map((i) => (i.name === from ? { ...i, name: to } : i));
  t.uniques = rename(t.uniques);
  t.foreignKeys = rename(t.foreignKeys);
  t.checks = rename(t.checks);
  t.exclusions = rename(t.exclusions);
  t.indexes = rename(t.indexes);
}

/** The name ChooseIndexColumnNames gives an index key (FigureIndexColname). */
function indexKeyName(e: IndexElem): string {
  if (e.name !== undefined) return e.name;
  return e.expr === undefined ? 'expr' : (figureColumnName(e.expr) ?? 'expr');
}

function figureColumnName(node: Node): string | undefined {
  if ('ColumnRef' in node) {
    const last = node.ColumnRef.fields?.at(-1);
    return last === undefined ? undefined : stringValue(last);
  }
  if ('FuncCall' in node) return stringValue(node.FuncCall.funcname?.at(-1));
  if ('TypeCast' in node) {
    const inner = node.TypeCast.arg === undefined ? undefined : figureColumnName(node.TypeCast.arg);
    return inner ?? stringValue(node.TypeCast.typeName?.names?.at(-1));
  }
  if ('CaseExpr' in node) return 'case';
  if ('CoalesceExpr' in node) return 'coalesce';
  if ('MinMaxExpr' in node) return node.MinMaxExpr.op === 'IS_LEAST' ? 'least' : 'greatest';
  if ('A_ArrayExpr' in node) return 'array';
  if ('RowExpr' in node) return 'row';
  if ('A_Expr' in node && node.A_Expr.kind === 'AEXPR_NULLIF') return 'nullif';
  if ('SQLValueFunction' in node) {
    const op = node.SQLValueFunction.op ?? '';
    return op.replace(/^SVFOP_/, '').replace(/_N$/, '').toLowerCase();
  }
  return undefined;
}

function names(list: readonly Node[] | undefined): string[] {
  return (list ?? []).map((n) => stringValue(n) ?? '');
}

function rangeVarOf(object: Node): RangeVar | undefined {
  const parts = 'List' in object ? names(object.List.items) : stringValue(object) === undefined ? [] : [stringValue(object) as string];
  const relname = parts.at(-1);
  if (relname === undefined || parts.length > 3) return undefined;
  const schemaname = parts.length >= 2 ? parts.at(-2) : undefined;
  return { relname, ...(schemaname === undefined ? {} : { schemaname }) };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function nodeKind(node: Node): string {
  return Object.keys(node)[0] ?? 'unknown';
}

function objectLabel(type: string | undefined): string {
  return (type ?? 'OBJECT_UNKNOWN').replace(/^OBJECT_/, '').replaceAll('_', ' ');
}

/** `CREATE OR REPLACE`: it changes an object that may already exist. */
function isReplacing(node: Node): boolean {
  const body = Object.values(node)[0] as { replace?: boolean } | undefined;
  return body?.replace === true;
}

/** The 1-based line of byte offset `location` in `sql` (libpg_query counts bytes). */
function lineAt(sql: string, location: number): number | undefined {
  const bytes = new TextEncoder().encode(sql);
  if (location < 0 || location > bytes.length) return undefined;
  let line = 1;
  for (let i = 0; i < location; i++) if (bytes[i] === 0x0a) line++;
  // A statement's location points at whatever follows the previous `;`: skip to its first token.
  for (let i = location; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a) line++;
    else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) break;
  }
  return line;
}
