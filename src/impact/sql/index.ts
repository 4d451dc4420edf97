/**
 * SQL analysis: every statement of an action's SQL classified from PostgreSQL's
 * own parse tree (read, write, ddl, privilege, destructive, unanalyzable). Pure:
 * the parser is passed in (see `src/analyzers/pg-parser.ts`).
 */
export { classifySql, SQL_LIMITS, type ClassifySqlOptions, type SqlAnalysis, type StatementAnalysis } from './classify-sql.js';
export { classifyFunction, isBuiltinOperator, isKnownFunction } from './classify-function.js';
export { classifySetting } from './classify-setting.js';
export { foldConstant, isAlwaysTrue, parseDecimal, type Decimal, type SqlConstant } from './fold-constant.js';
export type { ParseTree, PgNode, RawStatement, SqlParser, SqlParseResult, SqlSyntaxError } from './sql-parser.js';
export { moreSevere, severity, STATEMENT_CLASSES, type ClassFinding, type StatementClass } from './statement-class.js';
