/**
 * The subset of a PostgreSQL parser the SQL analyzer needs, declared here so the
 * analyzer stays pure and does not depend on the parser package (the adapter in
 * `src/analyzers/pg-parser.ts` implements it with libpg-query).
 */

/**
 * One node of PostgreSQL's raw parse tree as libpg_query serializes it to JSON:
 * `{ "NodeType": { ...fields } }`, e.g. `{ "DeleteStmt": { "relation": ... } }`.
 * Fields holding a default value (0, false, empty) are left out.
 */
export type PgNode = Readonly<Record<string, unknown>>;

/** One statement of a script: its tree and where its text is, in UTF-8 bytes. */
export interface RawStatement {
  readonly stmt?: PgNode;
  /** Byte offset of the statement's text; absent means 0. */
  readonly stmt_location?: number;
  /** Byte length of the statement's text; absent or 0 means "to the end of the input". */
  readonly stmt_len?: number;
}

/** The parse tree of a whole script, one entry per statement. */
export interface ParseTree {
  readonly version?: number;
  readonly stmts: readonly RawStatement[];
}

/** Why the input did not parse, as PostgreSQL reports it. */
export interface SqlSyntaxError {
  readonly message: string;
  /** Position the parser stopped at, when it reports one. */
  readonly position?: number;
}

/** The outcome of parsing: the tree, or the syntax error. */
export type SqlParseResult = { readonly ok: true; readonly value: ParseTree } | { readonly ok: false; readonly error: SqlSyntaxError };

/** A PostgreSQL parser. `parse` never throws: anything it cannot parse is an error value. */
export interface SqlParser {
  parse(sql: string): SqlParseResult;
}
