import { bucketMs, fits, toBudgetRequest, type BudgetRequest } from '../budget-request.js';
import type { BudgetDemand, BudgetRepository, BudgetReservation } from '../store.js';
import type { TableName } from './migrations.js';
import type { PostgresConnection, PostgresWriteKind } from './postgres-connection.js';

/**
 * Budgets on PostgreSQL: a reservation takes a transaction-scoped advisory
 * lock per key (in key order, so replicas never deadlock), then sums and
 * records inside the batch transaction: replicas sharing the database
 * serialize on the keys they share and on nothing else.
 */
export class PostgresBudgetRepository implements BudgetRepository {
  readonly #connection: PostgresConnection;
  readonly #table: string;
  readonly #reserveKind: PostgresWriteKind<BudgetRequest, BudgetReservation>;

  constructor(connection: PostgresConnection, table: TableName) {
    this.#connection = connection;
    const usage = table('budget_usage');
    this.#table = usage;
    this.#reserveKind = {
      name: 'budgets.reserve',
      write: async (client, items) => {
        // Every key of the batch, locked once, in order, before any sum is read.
        const keys = [...new Set(items.flatMap((r) => r.demands.map((d) => d.key)))].sort();
        for (const key of keys) await client.query("SELECT pg_advisory_xact_lock(hashtextextended('governor.budget:' || $1, 0))", [key]);
        const results = [];
        for (const request of items) {
          let refused: BudgetReservation | undefined;
          for (const d of request.demands) {
            const width = bucketMs(d, request.at);
            const { rows } = await client.query(`SELECT coalesce(sum(amount), 0)::float8 AS used FROM ${usage} WHERE key = $1 AND bucket >= $2`, [d.key, Math.floor(d.since / width)]);
            const used = Number((rows[0] as { used: number }).used);
            if (!fits(used, d.amount, d.max)) {
              refused = { ok: false, key: d.key, used, amount: d.amount, max: d.max };
              break;
            }
          }
          if (refused === undefined) {
            await client.query(
              `INSERT INTO ${usage} AS u (key, bucket, amount) SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[])
               ON CONFLICT (key, bucket) DO UPDATE SET amount = u.amount + excluded.amount`,
              [request.demands.map((d) => d.key), request.demands.map((d) => Math.floor(request.at / bucketMs(d, request.at))), request.demands.map((d) => d.amount)],
            );
          }
          results.push({ ok: true as const, value: refused ?? ({ ok: true } as const) });
        }
        return results;
      },
    };
  }

  async reserve(request: { readonly demands: readonly BudgetDemand[]; readonly decisionId: string; readonly at: number }): Promise<BudgetReservation> {
    return this.#connection.write(this.#reserveKind, toBudgetRequest(request));
  }

  async used(key: string, since: number): Promise<number> {
    const width = bucketMs({ since }, Date.now());
    const { rows } = await this.#connection.query(`SELECT coalesce(sum(amount), 0)::float8 AS used FROM ${this.#table} WHERE key = $1 AND bucket >= $2`, [key, Math.floor(since / width)]);
    return Number((rows[0] as { used: number }).used);
  }
}
