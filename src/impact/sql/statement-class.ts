/**
 * What a SQL statement can do, from harmless to unknown:
 *
 * - `read`: reads data or session state only.
 * - `write`: changes rows (or takes locks), within what its WHERE clause selects.
 * - `ddl`: changes the schema without removing anything (create, add, tune).
 * - `privilege`: changes who may do what (grants, roles, owners, row security).
 * - `destructive`: removes or rewrites data or schema wholesale: DROP, TRUNCATE,
 *   DELETE/UPDATE of every row, dropped or retyped columns, renames.
 * - `unanalyzable`: its effect cannot be known from its text (dynamic SQL,
 *   procedural code, user functions, shell commands) or it did not parse.
 */
export type StatementClass = 'read' | 'write' | 'ddl' | 'privilege' | 'destructive' | 'unanalyzable';

/** Every class, least severe first. */
export const STATEMENT_CLASSES: readonly StatementClass[] = Object.freeze(['read', 'write', 'ddl', 'privilege', 'destructive', 'unanalyzable']);

const RANK: Readonly<Record<StatementClass, number>> = { read: 0, write: 1, ddl: 2, privilege: 3, destructive: 4, unanalyzable: 5 };

/** The position of `cls` in {@link STATEMENT_CLASSES}: higher is more severe. */
export function severity(cls: StatementClass): number {
  return RANK[cls];
}

/** The more severe of two classes. */
export function moreSevere(a: StatementClass, b: StatementClass): StatementClass {
  return RANK[b] > RANK[a] ? b : a;
}

/** A class with the reason for it, as the helpers of the classifier report it. */
export interface ClassFinding {
  readonly class: StatementClass;
  readonly reason: string;
  /** Whether the effect can be undone; when absent, the default of the class applies. */
  readonly irreversible?: boolean;
}
