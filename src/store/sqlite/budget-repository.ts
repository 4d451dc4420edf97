import { bucketMs, fits, toBudgetRequest, type BudgetRequest } from '../budget-request.js';
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
    this.#used = connection.prepare('SELECT coalesce(sum(amount), 0) AS used FROM budget_usage WHERE key = ? AND bucket >= ?');
  }

  async reserve(request: { readonly demands: readonly BudgetDemand[]; readonly decisionId: string; readonly at: number }): Promise<BudgetReservation> {
    return this.#connection.write({ op: 'budget-reserve', request: toBudgetRequest(request) });
  }

  used(key: string, since: number): Promise<number> {
    const width = bucketMs({ since }, Date.now());
    return this.#connection.read(() => (this.#used.get(key, Math.floor(since / width)) as { used: number }).used);
  }
}

/** The budget writes, run in a batch transaction by `SqliteWriter`. */
export class SqliteBudgetWrites {
  readonly #used: SqliteStatement;
  readonly #insert: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.#used = db.prepare('SELECT coalesce(sum(amount), 0) AS used FROM budget_usage WHERE key = ? AND bucket >= ?');
    this.#insert = db.prepare('INSERT INTO budget_usage (key, bucket, amount) VALUES (?, ?, ?) ON CONFLICT (key, bucket) DO UPDATE SET amount = amount + excluded.amount');
  }

  reserve(request: BudgetRequest): BudgetReservation {
    for (const d of request.demands) {
      const width = bucketMs(d, request.at);
      const used = (this.#used.get(d.key, Math.floor(d.since / width)) as { used: number }).used;
      if (!fits(used, d.amount, d.max)) return { ok: false, key: d.key, used, amount: d.amount, max: d.max };
    }
    for (const d of request.demands) this.#insert.run(d.key, Math.floor(request.at / bucketMs(d, request.at)), d.amount);
    return { ok: true };
  }
}
