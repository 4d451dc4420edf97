import { ALTER_TABLE_RULES } from './alter-table-rules.js';
import { classifyFunction, isBuiltinOperator, isKnownFunction } from './classify-function.js';
import { classifySetting } from './classify-setting.js';
import { foldConstant, isAlwaysTrue } from './fold-constant.js';
import { commandOf, isRecord, list, lookup, nodeOf, objectLabel, objectName, option, optionIsOn, roleName, str, strings, tableName, type Fields } from './parse-tree.js';
import type { RawStatement, SqlParser } from './sql-parser.js';
import { moreSevere, type StatementClass } from './statement-class.js';

/** What one statement of a script does, as a DBA reviewing it would say. */
export interface StatementAnalysis {
  /** 0-based position of the statement in the script. */
  readonly index: number;
  /** The statement's own text (comments included), whitespace collapsed, clipped to about 200 characters. */
  readonly text: string;
  /** The parse node type of the statement, e.g. `DeleteStmt`. */
  readonly kind: string;
  readonly class: StatementClass;
  /** The command, e.g. `SELECT`, `DELETE`, `DROP TABLE`, `ALTER TABLE`, `EXPLAIN ANALYZE DELETE`. */
  readonly command: string;
  /**
   * Relations the statement names, as PostgreSQL folds identifiers (unquoted names in
   * lower case, quoted ones as written, U& escapes decoded), schema-qualified when
   * written so. Names of WITH queries are left out.
   */
  readonly tables: readonly string[];
  /** For UPDATE and DELETE: whether there is a WHERE clause. */
  readonly hasWhere?: boolean;
  /** For UPDATE and DELETE with a WHERE clause: whether it holds for every row (`true`, `1=1`, `x OR true`, `id = id`). */
  readonly whereAlwaysTrue?: boolean;
  /** Why the statement has its class, one sentence per finding. */
  readonly reasons: readonly string[];
  /** False only for reads and for changes that only add (CREATE TABLE/INDEX, ADD COLUMN) or only take locks. */
  readonly irreversible: boolean;
}

/** The analysis of a whole script. */
export interface SqlAnalysis {
  /** False when the SQL could not be analyzed at all: it does not parse, is empty or exceeds the limits. */
  readonly ok: boolean;
  /** Why `ok` is false. */
  readonly error?: string;
  /** One entry per statement; when `ok` is false, one `unanalyzable` pseudo-statement saying why. */
  readonly statements: readonly StatementAnalysis[];
  /** The most severe class of any statement. */
  readonly class: StatementClass;
  /** Some statement is destructive, or could not be analyzed (fail closed). */
  readonly destructive: boolean;
  /** Some statement is anything but a read, or could not be analyzed. */
  readonly writes: boolean;
  /** Some statement changes the schema (CREATE, ALTER, DROP, RENAME, COMMENT, SELECT INTO), or could not be analyzed. */
  readonly ddl: boolean;
}

/** Bounds on the input, so a hostile script cannot make the analysis expensive. */
export interface ClassifySqlOptions {
  /** Largest script accepted, in UTF-8 bytes. Default {@link SQL_LIMITS}.maxBytes. */
  readonly maxBytes?: number;
  /** Most statements accepted in one script. Default {@link SQL_LIMITS}.maxStatements. */
  readonly maxStatements?: number;
}

/** The default bounds: 64 KiB, 100 statements, parse trees nested at most 1,000 levels. */
export const SQL_LIMITS = Object.freeze({ maxBytes: 64 * 1024, maxStatements: 100, maxDepth: 1000 });

/**
 * Classifies every statement of `sql` from PostgreSQL's own parse tree, never from
 * the text: comments, case, quoting and whitespace cannot change the outcome, and
 * one harmless statement cannot hide the next. Pure and total: anything it does not
 * understand (a statement type, a function, a setting, a syntax error, input over
 * the limits) is `unanalyzable`, the most severe class (fail closed).
 */
export function classifySql(parser: SqlParser, sql: string, options: ClassifySqlOptions = {}): SqlAnalysis {
  const maxBytes = options.maxBytes ?? SQL_LIMITS.maxBytes;
  const maxStatements = options.maxStatements ?? SQL_LIMITS.maxStatements;
  // A string has at least as many UTF-8 bytes as UTF-16 units: the long ones are refused without counting.
  const bytes = sql.length > maxBytes ? sql.length : utf8Length(sql);
  if (bytes > maxBytes) return failed('TooLarge', sql, `the SQL is at least ${bytes} bytes long, more than the ${maxBytes} the analyzer accepts`);
  if (sql.trim() === '') return failed('Empty', sql, 'the SQL is empty: there is no statement to analyze');
  const parsed = parser.parse(sql);
  if (!parsed.ok) {
    const at = parsed.error.position === undefined ? '' : ` (at offset ${parsed.error.position})`;
    return failed('SyntaxError', sql, `the SQL does not parse: ${parsed.error.message}${at}`);
  }
  const stmts = parsed.value.stmts;
  if (stmts.length === 0) return failed('Empty', sql, 'the SQL holds no statement, only comments or semicolons');
  if (stmts.length > maxStatements) return failed('TooManyStatements', sql, `the SQL holds ${stmts.length} statements, more than the ${maxStatements} the analyzer accepts`);

  const texts = statementTexts(sql, stmts);
  const statements: StatementAnalysis[] = [];
  let cls: StatementClass = 'read';
  let ddl = false;
  stmts.forEach((raw, index) => {
    const { analysis, changesSchema } = analyzeStatement(raw, index, texts[index] ?? '');
    statements.push(analysis);
    cls = moreSevere(cls, analysis.class);
    ddl ||= changesSchema || analysis.class === 'unanalyzable';
  });
  return {
    ok: true,
    statements,
    class: cls,
    destructive: statements.some((s) => s.class === 'destructive' || s.class === 'unanalyzable'),
    writes: statements.some((s) => s.class !== 'read'),
    ddl,
  };
}

function failed(kind: string, sql: string, reason: string): SqlAnalysis {
  const statement: StatementAnalysis = { index: 0, text: clip(sql.slice(0, 1000)), kind, class: 'unanalyzable', command: 'UNKNOWN', tables: [], reasons: [reason], irreversible: true };
  return { ok: false, error: reason, statements: [statement], class: 'unanalyzable', destructive: true, writes: true, ddl: true };
}

// ---------------------------------------------------------------------------
// Statement text

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The text of each statement; the parser reports positions in UTF-8 bytes. */
function statementTexts(sql: string, stmts: readonly RawStatement[]): string[] {
  const ascii = /^[\x00-\x7f]*$/.test(sql);
  const bytes = ascii ? undefined : new TextEncoder().encode(sql);
  const decoder = ascii ? undefined : new TextDecoder();
  const total = bytes?.length ?? sql.length;
  return stmts.map((s) => {
    const start = Math.min(Math.max(s.stmt_location ?? 0, 0), total);
    const end = s.stmt_len !== undefined && s.stmt_len > 0 ? Math.min(start + s.stmt_len, total) : total;
    return clip(bytes && decoder ? decoder.decode(bytes.subarray(start, end)) : sql.slice(start, end));
  });
}

function clip(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}

// ---------------------------------------------------------------------------
// Findings of one statement

/**
 * How the parts of a tree run: `execute` now (functions are called, nested writes
 * happen), `plan` only (EXPLAIN: only functions PostgreSQL may pre-evaluate matter),
 * or `definition` (stored for later, e.g. a view's query: nothing runs now).
 */
type Mode = 'execute' | 'plan' | 'definition';

class Findings {
  class: StatementClass = 'read';
  readonly reasons: string[] = [];
  irreversible = false;
  changesSchema = false;
  command = '';
  hasWhere: boolean | undefined;
  whereAlwaysTrue: boolean | undefined;
  tooDeep = false;
  readonly cteNames = new Set<string>();
  /** Relations by name; `bare` names may be WITH queries unless `certain` (a write target, a DROP). */
  readonly tables = new Map<string, { readonly bare: boolean; certain: boolean }>();

  add(cls: StatementClass, reason: string, irreversible: boolean = cls !== 'read', changesSchema = false): void {
    this.class = moreSevere(this.class, cls);
    if (!this.reasons.includes(reason)) this.reasons.push(reason);
    this.irreversible ||= irreversible;
    this.changesSchema ||= changesSchema;
  }

  /** Records the relation a RangeVar names and returns its name. */
  addTable(rangeVar: unknown, certain = false): string {
    const name = tableName(rangeVar);
    const rv = isRecord(rangeVar) && isRecord(rangeVar.RangeVar) ? rangeVar.RangeVar : rangeVar;
    this.addName(name, certain, isRecord(rv) && rv.schemaname === undefined && rv.catalogname === undefined);
    return name;
  }

  /** Records a relation by name. */
  addName(name: string, certain: boolean, bare = false): void {
    if (name === '') return;
    const known = this.tables.get(name);
    if (known) known.certain ||= certain;
    else this.tables.set(name, { bare, certain });
  }

  /** The relations, without names that are only WITH queries. */
  tableList(): string[] {
    const out: string[] = [];
    for (const [name, t] of this.tables) if (t.certain || !t.bare || !this.cteNames.has(name)) out.push(name);
    return out;
  }
}

function analyzeStatement(raw: RawStatement, index: number, text: string): { analysis: StatementAnalysis; changesSchema: boolean } {
  const f = new Findings();
  const [kind, body] = nodeOf(raw.stmt);
  if (body === undefined) f.add('unanalyzable', 'the parser returned no tree for this statement');
  else classifyNode(raw.stmt, f, 0);
  if (f.tooDeep) f.add('unanalyzable', `the statement is nested more than ${SQL_LIMITS.maxDepth} levels deep`);
  if (f.reasons.length === 0) f.add('read', `${f.command} only reads`);
  const analysis: StatementAnalysis = {
    index,
    text,
    kind: kind || 'Unknown',
    class: f.class,
    command: f.command || 'UNKNOWN',
    tables: f.tableList(),
    ...(f.hasWhere === undefined ? {} : { hasWhere: f.hasWhere }),
    ...(f.whereAlwaysTrue === undefined ? {} : { whereAlwaysTrue: f.whereAlwaysTrue }),
    reasons: f.reasons,
    irreversible: f.class === 'read' ? false : f.irreversible || f.class === 'destructive' || f.class === 'privilege' || f.class === 'unanalyzable',
  };
  return { analysis, changesSchema: f.changesSchema };
}

// ---------------------------------------------------------------------------
// Walking expressions and nested statements

function walk(value: unknown, f: Findings, mode: Mode, depth: number): void {
  if (depth > SQL_LIMITS.maxDepth) {
    f.tooDeep = true;
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) walk(item, f, mode, depth + 1);
    return;
  }
  if (!isRecord(value)) return;
  // A RangeVar, bare (`relation`, `rel`, `sequence` fields) or as the body of a `RangeVar` node.
  if (typeof value.relname === 'string') f.addTable(value);
  for (const key in value) {
    const child = value[key];
    if (typeof child !== 'object' || child === null) continue;
    const first = key.charCodeAt(0);
    // Node types are PascalCase (`FuncCall`, `A_Expr`); fields are lower camelCase.
    if (first >= 65 && first <= 90 && isRecord(child)) visitNode(key, child, f, mode, depth + 1);
    else walk(child, f, mode, depth + 1);
  }
}

function walkExcept(body: Fields, skip: readonly string[], f: Findings, mode: Mode, depth: number): void {
  for (const key in body) if (!skip.includes(key)) walk(body[key], f, mode, depth + 1);
}

function visitNode(type: string, body: Fields, f: Findings, mode: Mode, depth: number): void {
  switch (type) {
    case 'FuncCall':
      checkFunction(body, f, mode);
      break;
    case 'A_Expr':
      checkOperator(body, f, mode);
      break;
    case 'SelectStmt':
      checkSelect(body, f, mode);
      break;
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      if (mode === 'execute') classifyDml(type, body, f, false);
      break;
    case 'CommonTableExpr':
      if (typeof body.ctename === 'string') f.cteNames.add(body.ctename);
      break;
    default:
      if (type.endsWith('Stmt') && mode === 'execute') f.add('unanalyzable', `a nested ${commandOf(type)} statement is not one the analyzer expects here`);
  }
  walk(body, f, mode, depth);
}

function checkFunction(call: Fields, f: Findings, mode: Mode): void {
  if (mode === 'definition') return;
  const name = strings(call.funcname);
  if (mode === 'plan') {
    // EXPLAIN runs nothing, but the planner evaluates functions declared immutable: an unknown one may have effects.
    if (!isKnownFunction(name)) f.add('unanalyzable', `calls ${name.join('.')}, which the planner may run if it is declared immutable`);
    return;
  }
  const found = classifyFunction(name, list(call.args));
  if (found) f.add(found.class, found.reason, found.irreversible ?? found.class !== 'read');
}

function checkOperator(expr: Fields, f: Findings, mode: Mode): void {
  if (mode === 'definition') return;
  // BETWEEN and friends carry a keyword, not an operator, as their name; they compare with built-in operators.
  if (typeof expr.kind === 'string' && expr.kind.includes('BETWEEN')) return;
  const name = strings(expr.name);
  if (!isBuiltinOperator(name)) f.add('unanalyzable', `uses operator ${name.join('.')}, which is not a built-in operator; it calls a function that may do anything`);
}

function checkSelect(select: Fields, f: Findings, mode: Mode): void {
  if (mode !== 'execute') return;
  for (const clause of list(select.lockingClause)) {
    const [, lock] = nodeOf(clause);
    const strength = str(lock?.strength, 'LCS_FORUPDATE').replace('LCS_FOR', '').replace('NOKEY', 'NO KEY ').replace('KEYSHARE', 'KEY SHARE');
    f.add('write', `SELECT ... FOR ${strength} locks the rows it reads until the transaction ends`, false);
  }
}

// ---------------------------------------------------------------------------
// Statements

type Handler = (s: Fields, f: Findings, depth: number) => void;

/** Classifies one statement node (top level, or the statement inside EXPLAIN, PREPARE, COPY, CREATE SCHEMA). */
function classifyNode(node: unknown, f: Findings, depth: number): void {
  const [type, body] = nodeOf(node);
  if (body === undefined) {
    f.add('unanalyzable', 'the parse tree has a shape the analyzer does not expect');
    return;
  }
  if (depth > SQL_LIMITS.maxDepth) {
    f.tooDeep = true;
    return;
  }
  const handler = lookup(HANDLERS, type);
  if (handler) {
    handler(body, f, depth);
    return;
  }
  f.command = commandOf(type);
  f.add('unanalyzable', `${f.command} is not a statement the analyzer knows`);
  walk(body, f, 'definition', depth + 1);
}

function classifyDml(type: string, s: Fields, f: Findings, primary: boolean): void {
  const target = f.addTable(s.relation, true);
  const prefix = primary ? '' : 'a data-modifying WITH query: ';
  if (type === 'InsertStmt') {
    const upsert = isRecord(s.onConflictClause) && s.onConflictClause.action === 'ONCONFLICT_UPDATE';
    f.add('write', `${prefix}INSERT adds rows to ${target}${upsert ? ' and updates the rows they conflict with' : ''}`);
    return;
  }
  if (type === 'MergeStmt') {
    classifyMerge(s, f, target, prefix);
    return;
  }
  const verb = type === 'DeleteStmt' ? 'DELETE' : 'UPDATE';
  const effect = verb === 'DELETE' ? 'removes' : 'rewrites';
  const where = s.whereClause;
  const always = where !== undefined && isAlwaysTrue(where);
  if (primary) {
    f.hasWhere = where !== undefined;
    if (where !== undefined) f.whereAlwaysTrue = always;
  }
  if (where === undefined) f.add('destructive', `${prefix}${verb} without a WHERE clause ${effect} every row of ${target}`);
  else if (always) f.add('destructive', `${prefix}${verb} with a WHERE clause that is always true ${effect} every row of ${target}`);
  else f.add('write', `${prefix}${verb} ${verb === 'DELETE' ? 'removes' : 'changes'} the rows of ${target} its WHERE clause selects`);
}

function classifyMerge(s: Fields, f: Findings, target: string, prefix: string): void {
  const clauses = list(s.mergeWhenClauses).map((c) => nodeOf(c)[1]).filter((c): c is Fields => c !== undefined);
  const unconditional = (kind: string) => clauses.find((c) => c.matchKind === kind && c.condition === undefined && (c.commandType === 'CMD_DELETE' || c.commandType === 'CMD_UPDATE'));
  const matched = unconditional('MERGE_WHEN_MATCHED');
  if (matched && isAlwaysTrue(s.joinCondition)) {
    const verb = matched.commandType === 'CMD_DELETE' ? 'removes' : 'rewrites';
    f.add('destructive', `${prefix}MERGE joins on a condition that is always true, so WHEN MATCHED ${verb} every row of ${target}`);
    return;
  }
  const bySource = unconditional('MERGE_WHEN_NOT_MATCHED_BY_SOURCE');
  const extra = bySource ? `; WHEN NOT MATCHED BY SOURCE ${bySource.commandType === 'CMD_DELETE' ? 'removes' : 'rewrites'} every row of ${target} the source lacks (all of them if the source is empty)` : '';
  f.add('write', `${prefix}MERGE writes the rows of ${target} its join condition matches${extra}`);
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  // ---- reads and data changes
  SelectStmt(s, f, d) {
    f.command = s.valuesLists !== undefined ? 'VALUES' : 'SELECT';
    if (isRecord(s.intoClause)) {
      f.command = 'SELECT INTO';
      const name = f.addTable(s.intoClause.rel, true);
      f.add('write', `SELECT INTO creates table ${name} and fills it with the rows selected`, true, true);
    }
    checkSelect(s, f, 'execute');
    walk(s, f, 'execute', d + 1);
  },
  InsertStmt: dml('InsertStmt', 'INSERT'),
  UpdateStmt: dml('UpdateStmt', 'UPDATE'),
  DeleteStmt: dml('DeleteStmt', 'DELETE'),
  MergeStmt: dml('MergeStmt', 'MERGE'),
  ExplainStmt(s, f, d) {
    if (optionIsOn(s.options, 'analyze')) {
      f.add('read', 'EXPLAIN ANALYZE executes the statement it explains', false);
      classifyNode(s.query, f, d + 1);
      f.command = `EXPLAIN ANALYZE ${f.command}`;
    } else {
      f.command = 'EXPLAIN';
      f.add('read', 'EXPLAIN without ANALYZE only plans the statement; it does not run it', false);
      walk(s.query, f, 'plan', d + 1);
    }
  },
  PrepareStmt(s, f, d) {
    f.add('read', `PREPARE stores a statement as ${str(s.name)} to run on EXECUTE; it is classified as that statement`, false);
    classifyNode(s.query, f, d + 1);
    f.command = `PREPARE ${f.command}`;
  },
  ExecuteStmt(s, f, d) {
    f.command = 'EXECUTE';
    f.add('unanalyzable', `EXECUTE runs prepared statement ${str(s.name)}, whose text is not part of this statement`);
    walk(s.params, f, 'execute', d + 1);
  },
  DeclareCursorStmt(s, f, d) {
    classifyNode(s.query, f, d + 1);
    f.command = 'DECLARE CURSOR';
  },
  CopyStmt(s, f, d) {
    const from = s.is_from === true;
    const file = typeof s.filename === 'string' ? s.filename : undefined;
    if (s.query !== undefined) classifyNode(s.query, f, d + 1);
    f.command = from ? 'COPY FROM' : 'COPY TO';
    const name = s.relation === undefined ? 'the query result' : f.addTable(s.relation, from);
    if (s.is_program === true) {
      f.add('unanalyzable', `COPY ... ${from ? 'FROM' : 'TO'} PROGRAM runs the shell command '${clip(file ?? '')}' on the database server`);
    } else if (from) {
      f.add('write', `COPY FROM loads rows into ${name}${file === undefined ? '' : ` from the server file '${clip(file)}'`}`);
    } else if (file !== undefined) {
      f.add('unanalyzable', `COPY TO writes the server file '${clip(file)}'; its effect on the database server's file system is unknown`);
    } else {
      f.add('read', `COPY TO STDOUT reads ${name}`, false);
    }
    walkExcept(s, ['query'], f, 'execute', d);
  },
  LockStmt(s, f, d) {
    f.command = 'LOCK';
    walk(s.relations, f, 'execute', d + 1);
    f.add('write', `LOCK TABLE locks ${list(s.relations).map(tableName).join(', ')} until the transaction ends`, false);
  },
  ListenStmt(s, f) {
    f.command = 'LISTEN';
    f.add('write', `LISTEN subscribes the session to channel ${str(s.conditionname)}`, false);
  },
  UnlistenStmt(s, f) {
    f.command = 'UNLISTEN';
    f.add('write', `UNLISTEN unsubscribes the session from ${typeof s.conditionname === 'string' ? `channel ${s.conditionname}` : 'every channel'}`, false);
  },
  NotifyStmt(s, f) {
    f.command = 'NOTIFY';
    f.add('write', `NOTIFY sends a notification on channel ${str(s.conditionname)} to every listening session`);
  },
  RefreshMatViewStmt(s, f, d) {
    f.command = 'REFRESH MATERIALIZED VIEW';
    const name = f.addTable(s.relation, true);
    walk(s, f, 'definition', d + 1);
    f.add('write', s.skipData === true ? `REFRESH ... WITH NO DATA empties ${name}; reading it fails until it is refreshed again` : `REFRESH MATERIALIZED VIEW replaces the rows of ${name} by running its stored query`);
  },
  VariableShowStmt(s, f) {
    f.command = 'SHOW';
    f.add('read', `SHOW reads setting ${str(s.name)}`, false);
  },
  VariableSetStmt(s, f, d) {
    classifySet(s, f, d, '');
  },
  TransactionStmt(s, f) {
    classifyTransaction(s, f);
  },
  DiscardStmt: session('DISCARD', 'DISCARD only resets state of this session'),
  DeallocateStmt: session('DEALLOCATE', 'DEALLOCATE only forgets prepared statements of this session'),
  ClosePortalStmt: session('CLOSE', 'CLOSE only closes a cursor of this session'),
  FetchStmt: session('FETCH', 'FETCH reads from a cursor (classified when it was declared)'),
  ConstraintsSetStmt: session('SET CONSTRAINTS', 'SET CONSTRAINTS only changes when this transaction checks deferrable constraints'),
  CheckPointStmt(_s, f) {
    f.command = 'CHECKPOINT';
    f.add('write', 'CHECKPOINT forces a checkpoint: heavy I/O, no change to data', false);
  },
  VacuumStmt(s, f, d) {
    const vacuum = s.is_vacuumcmd === true;
    const full = vacuum && optionIsOn(s.options, 'full');
    f.command = full ? 'VACUUM FULL' : vacuum ? 'VACUUM' : 'ANALYZE';
    walk(s.rels, f, 'definition', d + 1);
    const rels = list(s.rels).map((r) => tableName(nodeOf(r)[1]?.relation)).filter((n) => n !== '');
    const on = rels.length > 0 ? rels.join(', ') : 'every table of the database';
    if (full) f.add('ddl', `VACUUM FULL rewrites ${on} under an ACCESS EXCLUSIVE lock that blocks reads and writes`, false);
    else f.add('write', `${f.command} updates ${vacuum ? 'visibility information and ' : ''}statistics of ${on}; no row changes`, false);
  },
  ClusterStmt(s, f, d) {
    f.command = 'CLUSTER';
    const name = s.relation === undefined ? 'every previously clustered table' : f.addTable(s.relation, true);
    walk(s, f, 'definition', d + 1);
    f.add('ddl', `CLUSTER rewrites ${name} under an ACCESS EXCLUSIVE lock that blocks reads and writes`, false);
  },
  ReindexStmt(s, f, d) {
    f.command = 'REINDEX';
    walk(s, f, 'definition', d + 1);
    const concurrently = optionIsOn(s.params, 'concurrently');
    f.add('ddl', `REINDEX rebuilds indexes${concurrently ? ' without blocking writes' : ', blocking writes to their tables meanwhile'}`, false);
  },

  // ---- schema
  CreateStmt(s, f, d) {
    f.command = 'CREATE TABLE';
    const name = f.addTable(s.relation, true);
    walk(s, f, 'definition', d + 1);
    f.add('ddl', `CREATE TABLE creates ${name}`, false, true);
  },
  CreateTableAsStmt(s, f, d) {
    const into = isRecord(s.into) ? s.into : {};
    const matview = s.objtype === 'OBJECT_MATVIEW';
    if (into.skipData === true) walk(s.query, f, 'definition', d + 1);
    else classifyNode(s.query, f, d + 1);
    f.command = matview ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS';
    const name = f.addTable(into.rel, true);
    if (into.skipData === true) f.add('ddl', `${f.command} creates ${name} without data`, false, true);
    else f.add('write', `${f.command} creates ${name} and fills it with the rows of its query`, true, true);
  },
  IndexStmt(s, f, d) {
    f.command = s.unique === true ? 'CREATE UNIQUE INDEX' : 'CREATE INDEX';
    const table = f.addTable(s.relation, true);
    // Index expressions and predicates are evaluated for every existing row.
    walk(s, f, 'execute', d + 1);
    const how = s.concurrent === true ? 'CONCURRENTLY, without blocking writes' : 'blocking writes to the table while it builds';
    f.add('ddl', `${f.command} ${str(s.idxname, '(unnamed)')} on ${table}, ${how}`, false, true);
  },
  ViewStmt(s, f, d) {
    f.command = 'CREATE VIEW';
    const name = f.addTable(s.view, true);
    walk(s.query, f, 'definition', d + 1);
    if (s.replace === true) f.add('ddl', `CREATE OR REPLACE VIEW replaces the definition of ${name} if it exists; its readers get different rows`, true, true);
    else f.add('ddl', `CREATE VIEW creates ${name}`, false, true);
  },
  CreateSeqStmt(s, f) {
    f.command = 'CREATE SEQUENCE';
    f.add('ddl', `CREATE SEQUENCE creates ${f.addTable(s.sequence, true)}`, false, true);
  },
  AlterSeqStmt(s, f) {
    f.command = 'ALTER SEQUENCE';
    const name = f.addTable(s.sequence, true);
    if (option(s.options, 'restart') !== undefined) f.add('destructive', `ALTER SEQUENCE ... RESTART rewinds ${name}; new values may collide with existing keys`, true, true);
    else f.add('ddl', `ALTER SEQUENCE changes the parameters of ${name}`, true, true);
  },
  CreateSchemaStmt(s, f, d) {
    for (const element of list(s.schemaElts)) classifyNode(element, f, d + 1);
    f.command = 'CREATE SCHEMA';
    f.add('ddl', `CREATE SCHEMA creates schema ${str(s.schemaname, roleName(s.authrole))}`, false, true);
    if (s.authrole !== undefined) f.add('privilege', `CREATE SCHEMA ... AUTHORIZATION makes ${roleName(s.authrole)} the owner of the schema`);
  },
  CompositeTypeStmt: additive('CREATE TYPE', (s) => `CREATE TYPE creates composite type ${tableName(s.typevar)}`),
  CreateEnumStmt: additive('CREATE TYPE', (s) => `CREATE TYPE creates enum type ${strings(s.typeName).join('.')}`),
  CreateRangeStmt: additive('CREATE TYPE', (s) => `CREATE TYPE creates range type ${strings(s.typeName).join('.')}`),
  CreateDomainStmt: additive('CREATE DOMAIN', (s) => `CREATE DOMAIN creates domain ${strings(s.domainname).join('.')}`),
  DefineStmt: additive('CREATE', (s) => `CREATE ${objectLabel(s.kind)} creates ${strings(s.defnames).join('.')}`),
  CreatedbStmt: additive('CREATE DATABASE', (s) => `CREATE DATABASE creates database ${str(s.dbname)}`),
  CreateStatsStmt: additive('CREATE STATISTICS', (s) => `CREATE STATISTICS creates extended statistics ${strings(s.defnames).join('.')}`),
  AlterEnumStmt(s, f) {
    f.command = 'ALTER TYPE';
    const type = strings(s.typeName).join('.');
    if (typeof s.oldVal === 'string') f.add('destructive', `ALTER TYPE ... RENAME VALUE renames '${s.oldVal}' of ${type} to '${str(s.newVal)}'; code that uses the old label breaks`, true, true);
    else f.add('ddl', `ALTER TYPE ... ADD VALUE adds '${str(s.newVal)}' to enum ${type}`, false, true);
  },
  AlterDomainStmt(s, f, d) {
    f.command = 'ALTER DOMAIN';
    const domain = strings(s.typeName).join('.');
    walk(s.def, f, 'execute', d + 1);
    switch (s.subtype) {
      case 'T': return f.add('ddl', `ALTER DOMAIN changes the default of ${domain}`, true, true);
      case 'N': return f.add('destructive', `ALTER DOMAIN ... DROP NOT NULL removes a constraint of ${domain}`, true, true);
      case 'O': return f.add('ddl', `ALTER DOMAIN ... SET NOT NULL adds a constraint to ${domain}`, false, true);
      case 'C': return f.add('ddl', `ALTER DOMAIN ... ADD CONSTRAINT adds a constraint to ${domain}`, false, true);
      case 'X': return f.add('destructive', `ALTER DOMAIN ... DROP CONSTRAINT removes constraint ${str(s.name)} of ${domain}`, true, true);
      case 'V': return f.add('ddl', `ALTER DOMAIN ... VALIDATE CONSTRAINT checks ${str(s.name)} of ${domain}`, false, true);
      default: return f.add('unanalyzable', `ALTER DOMAIN subcommand ${str(s.subtype)} is not one the analyzer knows`);
    }
  },
  AlterTableStmt(s, f, d) {
    classifyAlterTable(s, f, d);
  },
  AlterTableMoveAllStmt(s, f) {
    f.command = 'ALTER TABLE ALL IN TABLESPACE';
    f.add('ddl', `ALTER ${objectLabel(s.objtype)} ALL IN TABLESPACE ${str(s.orig_tablespacename)} moves every such object to ${str(s.new_tablespacename)}, locking each`, true, true);
  },
  CommentStmt(s, f, d) {
    f.command = 'COMMENT';
    walk(s.object, f, 'definition', d + 1);
    f.add('ddl', `COMMENT ON ${objectLabel(s.objtype)} ${objectName(s.object)} replaces its previous comment`, true, true);
  },
  RenameStmt(s, f, d) {
    // Parts of a relation (a column, a constraint, a trigger...) are renamed through their relation.
    const part = s.relation !== undefined && typeof s.subname === 'string';
    // Only RENAME COLUMN says what kind of relation it is; the others leave the field at its zero value.
    const parent = part ? (s.renameType === 'OBJECT_COLUMN' || s.renameType === 'OBJECT_ATTRIBUTE' ? objectLabel(s.relationType) : 'TABLE') : objectLabel(s.renameType);
    const viaRelation = s.renameType === 'OBJECT_COLUMN' || s.renameType === 'OBJECT_ATTRIBUTE' || s.renameType === 'OBJECT_TABCONSTRAINT';
    f.command = part && viaRelation ? `ALTER ${parent} RENAME ${objectLabel(s.renameType)}` : `ALTER ${objectLabel(s.renameType)} RENAME`;
    const named = objectName(s.object);
    const owner = s.relation !== undefined ? f.addTable(s.relation, true) : named !== '?' ? named : str(s.subname);
    walk(s, f, 'definition', d + 1);
    const old = part ? `${objectLabel(s.renameType).toLowerCase()} ${str(s.subname)} of ${owner}` : `${parent.toLowerCase()} ${owner}`;
    f.add('destructive', `${f.command} renames ${old} to ${str(s.newname)}; every query, view and function that uses the old name breaks`, true, true);
  },
  AlterObjectSchemaStmt(s, f, d) {
    f.command = `ALTER ${objectLabel(s.objectType)} SET SCHEMA`;
    const name = s.relation !== undefined ? f.addTable(s.relation, true) : objectName(s.object);
    walk(s, f, 'definition', d + 1);
    f.add('destructive', `${f.command} moves ${name} to schema ${str(s.newschema)}; every query that names it with its old schema breaks`, true, true);
  },
  AlterExtensionStmt: privilege('ALTER EXTENSION', (s) => `ALTER EXTENSION updates extension ${str(s.extname)}, running its upgrade script with elevated rights`),
  AlterExtensionContentsStmt: privilege('ALTER EXTENSION', (s) => `ALTER EXTENSION changes the members of extension ${str(s.extname)}`),
  CreateExtensionStmt: privilege('CREATE EXTENSION', (s) => `CREATE EXTENSION installs ${str(s.extname)}: its script runs with elevated rights and its functions extend what later statements can do`),
  AlterFunctionStmt(s, f) {
    f.command = `ALTER ${objectLabel(s.objtype)}`;
    const name = objectName({ ObjectWithArgs: s.func });
    if (optionIsOn(s.actions, 'security')) f.add('privilege', `${f.command} makes ${name} SECURITY DEFINER: it runs with its owner's privileges`, true, true);
    else f.add('ddl', `${f.command} changes the properties of ${name}`, true, true);
  },
  AlterDatabaseStmt(s, f) {
    f.command = 'ALTER DATABASE';
    f.add('ddl', `ALTER DATABASE changes the properties of database ${str(s.dbname)} (connection limits, connections allowed)`, true, true);
  },
  AlterDatabaseSetStmt(s, f, d) {
    f.command = 'ALTER DATABASE SET';
    classifySet(isRecord(s.setstmt) ? s.setstmt : {}, f, d, `for every new session of database ${str(s.dbname)}`);
    f.add('privilege', `ALTER DATABASE ... SET changes a setting for every new session of database ${str(s.dbname)}`);
  },
  AlterRoleSetStmt(s, f, d) {
    f.command = 'ALTER ROLE SET';
    classifySet(isRecord(s.setstmt) ? s.setstmt : {}, f, d, `for every new session of role ${roleName(s.role)}`);
    f.add('privilege', `ALTER ROLE ... SET changes a setting for every new session of role ${roleName(s.role)}`);
  },
  AlterSystemStmt(_s, f) {
    f.command = 'ALTER SYSTEM';
    f.add('unanalyzable', 'ALTER SYSTEM changes the server configuration; settings such as archive_command run shell commands');
  },

  // ---- removal
  DropStmt(s, f, d) {
    const label = objectLabel(s.removeType);
    f.command = `DROP ${label}`;
    const names = list(s.objects).map(objectName);
    const relations = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_INDEX', 'OBJECT_SEQUENCE', 'OBJECT_FOREIGN_TABLE']);
    if (relations.has(str(s.removeType))) for (const n of names) f.addName(n, true);
    walk(s.objects, f, 'definition', d + 1);
    const data = s.removeType === 'OBJECT_TABLE' ? ' and every row in it' : s.removeType === 'OBJECT_SCHEMA' || s.removeType === 'OBJECT_DATABASE' ? ' and everything in it' : '';
    const cascade = s.behavior === 'DROP_CASCADE' ? '; with CASCADE, every object that depends on it is dropped too' : '';
    f.add('destructive', `${f.command} removes ${names.join(', ')}${data}${cascade}`, true, true);
  },
  TruncateStmt(s, f, d) {
    f.command = 'TRUNCATE';
    const names = list(s.relations).map((r) => f.addTable(r, true));
    walk(s.relations, f, 'definition', d + 1);
    const cascade = s.behavior === 'DROP_CASCADE' ? ', and with CASCADE of every table that references them by foreign key' : '';
    const restart = s.restart_seqs === true ? '; RESTART IDENTITY also rewinds their sequences' : '';
    f.add('destructive', `TRUNCATE removes every row of ${names.join(', ')}${cascade}${restart}`);
  },
  DropdbStmt: destructive('DROP DATABASE', (s) => `DROP DATABASE removes database ${str(s.dbname)} and everything in it`),
  DropRoleStmt: destructive('DROP ROLE', (s) => `DROP ROLE removes ${list(s.roles).map(roleName).join(', ')}; whoever logs in as them loses access`, false),
  DropOwnedStmt: destructive('DROP OWNED', (s) => `DROP OWNED drops every object owned by ${list(s.roles).map(roleName).join(', ')} and revokes their privileges${s.behavior === 'DROP_CASCADE' ? ', with CASCADE' : ''}`),
  DropTableSpaceStmt: destructive('DROP TABLESPACE', (s) => `DROP TABLESPACE removes tablespace ${str(s.tablespacename)}`),
  DropSubscriptionStmt: destructive('DROP SUBSCRIPTION', (s) => `DROP SUBSCRIPTION removes subscription ${str(s.subname)} and, usually, its replication slot on the publisher`),
  DropUserMappingStmt: destructive('DROP USER MAPPING', (s) => `DROP USER MAPPING removes the credentials of ${roleName(s.user)} for server ${str(s.servername)}`, false),

  // ---- privileges
  GrantStmt(s, f, d) {
    classifyGrant(s, f, d);
  },
  GrantRoleStmt(s, f) {
    const grant = s.is_grant === true;
    f.command = grant ? 'GRANT ROLE' : 'REVOKE ROLE';
    const roles = list(s.granted_roles).map((r) => str(nodeOf(r)[1]?.priv_name)).join(', ');
    const to = list(s.grantee_roles).map(roleName).join(', ');
    f.add('privilege', grant ? `GRANT gives membership in ${roles} (and its privileges) to ${to}` : `REVOKE takes membership in ${roles} from ${to}`);
  },
  CreateRoleStmt(s, f) {
    const kind = str(s.stmt_type, 'ROLESTMT_ROLE').replace('ROLESTMT_', '');
    f.command = `CREATE ${kind}`;
    f.add('privilege', `CREATE ${kind} creates ${str(s.role)}${roleOptions(s.options)}`);
  },
  AlterRoleStmt(s, f) {
    f.command = 'ALTER ROLE';
    f.add('privilege', `ALTER ROLE changes ${roleName(s.role)}${roleOptions(s.options)}`);
  },
  AlterDefaultPrivilegesStmt(s, f) {
    f.command = 'ALTER DEFAULT PRIVILEGES';
    const action = isRecord(s.action) ? s.action : {};
    const to = list(action.grantees).map(roleName).join(', ');
    f.add('privilege', `ALTER DEFAULT PRIVILEGES ${action.is_grant === true ? 'grants' : 'revokes'} privileges on every ${objectLabel(action.objtype).toLowerCase()} created from now on ${action.is_grant === true ? 'to' : 'from'} ${to}`);
  },
  AlterOwnerStmt(s, f, d) {
    f.command = `ALTER ${objectLabel(s.objectType)} OWNER TO`;
    const name = s.relation !== undefined ? f.addTable(s.relation, true) : objectName(s.object);
    walk(s.object, f, 'definition', d + 1);
    f.add('privilege', `${f.command} gives ownership of ${name}, and every privilege on it, to ${roleName(s.newowner)}`);
  },
  ReassignOwnedStmt(s, f) {
    f.command = 'REASSIGN OWNED';
    f.add('privilege', `REASSIGN OWNED gives every object owned by ${list(s.roles).map(roleName).join(', ')} to ${roleName(s.newrole)}`);
  },
  CreatePolicyStmt(s, f, d) {
    f.command = 'CREATE POLICY';
    const table = f.addTable(s.table, true);
    walk(s, f, 'definition', d + 1);
    f.add('privilege', `CREATE POLICY ${str(s.policy_name)} changes which rows of ${table} roles may see or change`);
  },
  AlterPolicyStmt(s, f, d) {
    f.command = 'ALTER POLICY';
    const table = f.addTable(s.table, true);
    walk(s, f, 'definition', d + 1);
    f.add('privilege', `ALTER POLICY ${str(s.policy_name)} changes which rows of ${table} roles may see or change`);
  },
  CreateUserMappingStmt: privilege('CREATE USER MAPPING', (s) => `CREATE USER MAPPING stores credentials for ${roleName(s.user)} on server ${str(s.servername)}`),
  AlterUserMappingStmt: privilege('ALTER USER MAPPING', (s) => `ALTER USER MAPPING changes credentials of ${roleName(s.user)} on server ${str(s.servername)}`),
  SecLabelStmt: privilege('SECURITY LABEL', (s) => `SECURITY LABEL changes the security label of ${objectName(s.object)}`),

  // ---- code whose effect is not in the text
  DoStmt(s, f) {
    f.command = 'DO';
    const language = option(s.args, 'language');
    const lang = language ? objectName(language.arg) : 'plpgsql';
    f.add('unanalyzable', `DO runs an anonymous ${lang} code block; procedural code can run any statement, including dynamic SQL`);
  },
  CallStmt(s, f) {
    f.command = 'CALL';
    const call = isRecord(s.funccall) ? s.funccall : {};
    f.add('unanalyzable', `CALL runs procedure ${strings(call.funcname).join('.')}, whose body is not part of this statement`);
  },
  CreateFunctionStmt(s, f) {
    const kind = s.is_procedure === true ? 'PROCEDURE' : 'FUNCTION';
    f.command = `CREATE ${kind}`;
    const name = strings(s.funcname).join('.');
    const language = option(s.options, 'language');
    const lang = language ? objectName(language.arg) : 'sql';
    f.add('unanalyzable', `CREATE ${kind} ${s.replace === true ? 'creates or replaces' : 'creates'} ${name} in language ${lang}; its body can run any statement when called`, true, true);
    if (optionIsOn(s.options, 'security')) f.add('privilege', `${name} is SECURITY DEFINER: it runs with its owner's privileges, whoever calls it`);
  },
  CreateTrigStmt(s, f) {
    f.command = 'CREATE TRIGGER';
    const table = f.addTable(s.relation, true);
    f.add('unanalyzable', `CREATE TRIGGER attaches function ${strings(s.funcname).join('.')} to future changes of ${table}; what it does is not part of this statement`, true, true);
  },
  CreateEventTrigStmt(s, f) {
    f.command = 'CREATE EVENT TRIGGER';
    f.add('unanalyzable', `CREATE EVENT TRIGGER runs ${strings(s.funcname).join('.')} on future DDL of every session`, true, true);
  },
  RuleStmt(s, f) {
    f.command = 'CREATE RULE';
    const table = f.addTable(s.relation, true);
    f.add('unanalyzable', `CREATE RULE rewrites future queries on ${table}`, true, true);
  },
  LoadStmt(s, f) {
    f.command = 'LOAD';
    f.add('unanalyzable', `LOAD loads shared library '${str(s.filename)}' into the server process`);
  },
  CreatePLangStmt(s, f) {
    f.command = 'CREATE LANGUAGE';
    f.add('unanalyzable', `CREATE LANGUAGE installs procedural language ${str(s.plname)}`, true, true);
  },
};

function dml(type: string, command: string): Handler {
  return (s, f, d) => {
    f.command = command;
    classifyDml(type, s, f, true);
    walk(s, f, 'execute', d + 1);
  };
}

function session(command: string, reason: string): Handler {
  return (_s, f) => {
    f.command = command;
    f.add('read', reason, false);
  };
}

function additive(command: string, describe: (s: Fields) => string): Handler {
  return (s, f, d) => {
    f.command = command;
    walk(s, f, 'definition', d + 1);
    f.add('ddl', describe(s), false, true);
  };
}

function destructive(command: string, describe: (s: Fields) => string, changesSchema = true): Handler {
  return (s, f) => {
    f.command = command;
    f.add('destructive', describe(s), true, changesSchema);
  };
}

function privilege(command: string, describe: (s: Fields) => string): Handler {
  return (s, f) => {
    f.command = command;
    f.add('privilege', describe(s));
  };
}

function classifySet(s: Fields, f: Findings, d: number, scope: string): void {
  const kind = str(s.kind);
  if (!f.command) f.command = kind.startsWith('VAR_RESET') ? 'RESET' : 'SET';
  if (kind === 'VAR_RESET_ALL') return f.add('read', `RESET ALL returns every setting to its default${scope ? ` ${scope}` : ''}`, false);
  // SET TRANSACTION ... and SET SESSION CHARACTERISTICS only choose isolation, read-only and deferrable.
  if (kind === 'VAR_SET_MULTI') return f.add('read', `${str(s.name)} only sets characteristics of transactions`, false);
  const name = str(s.name);
  let values: string[] | undefined = [];
  if (kind === 'VAR_SET_VALUE') {
    walk(s.args, f, 'execute', d + 1);
    for (const arg of list(s.args)) {
      const v = foldConstant(arg);
      if (v === undefined || v.t === 'null' || v.t === 'bool') values = undefined;
      else values?.push(String(v.v));
    }
  }
  const found = classifySetting(name, values);
  // For ALTER DATABASE/ROLE ... SET a harmless setting adds nothing to the caller's own reason.
  if (scope && found.class === 'read') return;
  f.add(found.class, scope ? `${found.reason} (${scope})` : found.reason, found.irreversible ?? found.class !== 'read');
}

function classifyTransaction(s: Fields, f: Findings): void {
  const commands: Readonly<Record<string, string>> = {
    TRANS_STMT_BEGIN: 'BEGIN',
    TRANS_STMT_START: 'START TRANSACTION',
    TRANS_STMT_COMMIT: 'COMMIT',
    TRANS_STMT_ROLLBACK: 'ROLLBACK',
    TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
    TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT',
    TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
    TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
    TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
    TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
  };
  f.command = lookup(commands, str(s.kind)) ?? 'TRANSACTION';
  switch (s.kind) {
    case 'TRANS_STMT_PREPARE':
      return f.add('write', `PREPARE TRANSACTION keeps the transaction ${str(s.gid)} and its locks open beyond this session until someone commits or rolls it back`, false);
    case 'TRANS_STMT_COMMIT_PREPARED':
      return f.add('unanalyzable', `COMMIT PREPARED commits transaction ${str(s.gid)}, whose statements are not part of this script`);
    case 'TRANS_STMT_ROLLBACK_PREPARED':
      return f.add('destructive', `ROLLBACK PREPARED discards the work of prepared transaction ${str(s.gid)}`);
    default:
      if (lookup(commands, str(s.kind)) === undefined) return f.add('unanalyzable', `transaction command ${str(s.kind)} is not one the analyzer knows`);
      // Transaction control changes nothing by itself; the statements it groups are classified one by one.
      return f.add('read', `${f.command} is transaction control; it changes no data by itself`, false);
  }
}

function roleOptions(options: unknown): string {
  const names: Readonly<Record<string, string>> = { canlogin: 'LOGIN', isreplication: 'REPLICATION', bypassrls: 'BYPASSRLS', superuser: 'SUPERUSER', createdb: 'CREATEDB', createrole: 'CREATEROLE', inherit: 'INHERIT' };
  const out: string[] = [];
  for (const o of list(options)) {
    const [, body] = nodeOf(o);
    if (!body) continue;
    const defname = str(body.defname);
    const [argType, arg] = nodeOf(body.arg);
    const flag = lookup(names, defname);
    if (flag !== undefined) out.push(argType === 'Boolean' && arg?.boolval !== true ? `NO${flag}` : flag);
    else if (defname === 'password') out.push('PASSWORD');
    else if (defname === 'rolemembers' || defname === 'addroleto') out.push(defname === 'addroleto' ? 'IN ROLE ...' : 'ROLE ...');
    else out.push(defname.toUpperCase());
  }
  return out.length > 0 ? ` (${out.join(', ')})` : '';
}

function classifyGrant(s: Fields, f: Findings, d: number): void {
  const grant = s.is_grant === true;
  f.command = grant ? 'GRANT' : 'REVOKE';
  walk(s.objects, f, 'definition', d + 1);
  const privileges = s.privileges === undefined ? 'ALL privileges' : list(s.privileges).map((p) => str(nodeOf(p)[1]?.priv_name).toUpperCase()).join(', ');
  const label = objectLabel(s.objtype).toLowerCase();
  const objects = s.targtype === 'ACL_TARGET_ALL_IN_SCHEMA' ? `every ${label} in schema ${list(s.objects).map(objectName).join(', ')}` : `${label} ${list(s.objects).map(objectName).join(', ')}`;
  const grantees = list(s.grantees).map(roleName).join(', ');
  const passOn = s.grant_option === true ? ' WITH GRANT OPTION, so they may pass it on' : '';
  f.add('privilege', grant ? `GRANT gives ${privileges} on ${objects} to ${grantees}${passOn}` : `REVOKE takes ${privileges} on ${objects} from ${grantees}`);
}

// ---------------------------------------------------------------------------
// ALTER TABLE

function classifyAlterTable(s: Fields, f: Findings, d: number): void {
  const label = objectLabel(s.objtype ?? 'OBJECT_TABLE');
  f.command = `ALTER ${label}`;
  const table = f.addTable(s.relation, true);
  for (const cmd of list(s.cmds)) {
    const [, c] = nodeOf(cmd);
    if (!c) continue;
    const subtype = str(c.subtype);
    const found = lookup(ALTER_TABLE_RULES, subtype);
    if (found) f.add(found.class, found.describe(c, table), found.irreversible, true);
    else f.add('unanalyzable', `${f.command} subcommand ${subtype} is not one the analyzer knows`);
    // Defaults, check constraints and USING expressions are evaluated against existing rows.
    walk(c, f, 'execute', d + 1);
  }
}
