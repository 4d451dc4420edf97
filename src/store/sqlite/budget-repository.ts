import { fits, toBudgetRequest, type BudgetRequest } from '../budget-request.js';
import type { BudgetRepository, BudgetReservation, BudgetDemand } from '../store.js';
import type { SqliteConnection, SqliteDatabase, SqliteStatement } from './sqlite-connection.js';

/**
 * Budgets on SQLite: a reservation is one command of the single writer's
 * batch transaction, so the sum it checks cannot change before it records.
 */
export class SqliteBudgetRepository implements BudgetRepository {
  readonly #connection: SqliteConnection;
  readonly #used: SqliteStatement;

  constructor(connection: SqliteConnection) {
    this.#connection = connection;
    this.#used = connection.prepare('SELECT coalesce(sum(amount), 0) AS used FROM budget_usage WHERE key = ? AND at >= ?');
  }

  async reserve(request: { readonly demands: readonly BudgetDemand[]; readonly decisionId: string; readonly at: number }): Promise<BudgetReservation> {
    return this.#connection.write({ op: 'budget-reserve', request: toBudgetRequest(request) });
  }

  used(key: string, since: number): Promise<number> {
    return this.#connection.read(() => (this.#used.get(key, since) as { used: number }).used);
  }
}

/** The budget writes, run in a batch transaction by `SqliteWriter`. */
export class SqliteBudgetWrites {
  readonly #used: SqliteStatement;
  readonly #insert: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.#used = db.prepare('SELECT coalesce(sum(amount), 0) AS used FROM budget_usage WHERE key = ? AND at >= ?');
    this.#insert = db.prepare('INSERT INTO budget_usage (key, at, amount, decision_id) VALUES (?, ?, ?, ?)');
  }

  reserve(request: BudgetRequest): BudgetReservation {
    for (const d of request.demands) {
      const used = (this.#used.get(d.key, d.since) as { used: number }).used;
      if (!fits(used, d.amount, d.max)) return { ok: false, key: d.key, used, amount: d.amount, max: d.max };
    }
    for (const d of request.demands) this.#insert.run(d.key, request.at, d.amount, request.decisionId);
    return { ok: true };
  }
}
