import { loadModule, parseSync } from 'libpg-query';
import type { SqlParser, SqlParseResult, SqlSyntaxError } from '../impact/sql/sql-parser.js';

let loading: Promise<void> | undefined;

/**
 * Loads PostgreSQL's own parser (libpg-query: the server's grammar compiled to
 * WebAssembly) and returns a {@link SqlParser} over it. The module is loaded once
 * per process; later calls reuse it. After loading, `parse` is synchronous and never
 * throws: a syntax error, input nested too deeply for the parser or any other
 * failure of the module comes back as `{ ok: false, error }`.
 */
export async function loadSqlParser(): Promise<SqlParser> {
  loading ??= loadModule().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  await loading;
  return { parse };
}

function parse(sql: string): SqlParseResult {
  let tree: unknown;
  try {
    tree = parseSync(sql);
  } catch (err) {
    return { ok: false, error: syntaxError(err) };
  }
  const stmts = typeof tree === 'object' && tree !== null ? (tree as { stmts?: unknown }).stmts : undefined;
  // libpg-query may leave `stmts` out when the input holds no statement at all.
  if (stmts === undefined && typeof tree === 'object' && tree !== null) return { ok: true, value: { stmts: [] } };
  if (!Array.isArray(stmts) || !stmts.every((s: unknown) => typeof s === 'object' && s !== null)) {
    return { ok: false, error: { message: 'the parser returned a tree of an unexpected shape' } };
  }
  return { ok: true, value: { stmts } };
}

function syntaxError(err: unknown): SqlSyntaxError {
  const message = err instanceof Error ? err.message : String(err);
  const position = (err as { sqlDetails?: { cursorPosition?: unknown } } | null)?.sqlDetails?.cursorPosition;
  return typeof position === 'number' ? { message, position } : { message };
}
