import { GovernorError } from '../../core/errors.js';
import type { Decision, DecisionState, Outcome } from '../../core/types.js';
import { listLimit, toDecisionRow, toOutcomeJson, type DecisionRow } from '../decision-row.js';
import type { Settled } from '../group-commit.js';
import type { DecisionRepository, InsertDecisionResult, ListDecisionsOptions, NewDecision } from '../store.js';
import type { TableName } from './migrations.js';
import type { PostgresConnection, PostgresQueryable, PostgresWriteKind } from './postgres-connection.js';

interface BodyRow {
  readonly body: Decision;
}

interface ExistingRow extends BodyRow {
  readonly agent: string;
  readonly idempotency_key: string;
  readonly request_digest: string;
}

interface InsertItem {
  readonly row: DecisionRow;
  readonly decision: Decision;
}

interface TransitionItem {
  readonly id: string;
  readonly from: DecisionState;
  readonly to: DecisionState;
}

interface OutcomeItem {
  readonly id: string;
  readonly outcome: string;
}

/**
 * Decisions on PostgreSQL. Inserts adjacent in a batch become one
 * `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`: eight array
 * parameters whatever the batch size, so one plan and no parameter limit.
 */
export class PostgresDecisionRepository implements DecisionRepository {
  readonly #connection: PostgresConnection;
  readonly #table: string;
  readonly #insertKind: PostgresWriteKind<InsertItem, InsertDecisionResult>;
  readonly #transitionKind: PostgresWriteKind<TransitionItem, Decision | undefined>;
  readonly #outcomeKind: PostgresWriteKind<OutcomeItem, Decision>;

  constructor(connection: PostgresConnection, table: TableName) {
    this.#connection = connection;
    const decisions = table('decisions');
    this.#table = decisions;
    this.#insertKind = { name: 'decisions.insert', write: (client, items) => insertDecisions(client, decisions, items) };
    this.#transitionKind = {
      name: 'decisions.transition',
      write: (client, items) => transitionDecisions(client, decisions, items),
    };
    this.#outcomeKind = {
      name: 'decisions.recordOutcome',
      write: (client, items) => recordOutcomes(client, decisions, items),
    };
  }

  async insert(entry: NewDecision): Promise<InsertDecisionResult> {
    return this.#connection.write(this.#insertKind, { row: toDecisionRow(entry), decision: entry.decision });
  }

  async get(id: string): Promise<Decision | undefined> {
    const { rows } = await this.#connection.query(`SELECT body FROM ${this.#table} WHERE id = $1`, [id]);
    return (rows[0] as BodyRow | undefined)?.body;
  }

  async recordOutcome(id: string, outcome: Outcome): Promise<Decision> {
    return this.#connection.write(this.#outcomeKind, { id, outcome: toOutcomeJson(outcome) });
  }

  transition(id: string, from: DecisionState, to: DecisionState): Promise<Decision | undefined> {
    return this.#connection.write(this.#transitionKind, { id, from, to });
  }

  async list(options: ListDecisionsOptions): Promise<readonly Decision[]> {
    const limit = listLimit(options);
    const where: string[] = [];
    const values: unknown[] = [];
    if (options.state !== undefined) {
      values.push(options.state);
      where.push(`state = $${values.length}`);
    }
    if (options.agent !== undefined) {
      values.push(options.agent);
      where.push(`agent = $${values.length}`);
    }
    values.push(limit);
    const { rows } = await this.#connection.query(
      `SELECT body FROM ${this.#table} ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
       ORDER BY created_at DESC, seq DESC LIMIT $${values.length}`,
      values,
    );
    return (rows as BodyRow[]).map((row) => row.body);
  }
}

/**
 * Writes a run of inserts. Items repeating an (agent, key) earlier in the run
 * are not sent: they get that item's decision with `created: false`. Items the
 * database skipped (ON CONFLICT) are looked up by (agent, key), which in READ
 * COMMITTED sees a row a concurrent transaction just committed; without a key
 * (or without a row under it) the conflict was on the id: STORE_CONFLICT.
 */
async function insertDecisions(
  client: PostgresQueryable,
  table: string,
  items: readonly InsertItem[],
): Promise<Settled<InsertDecisionResult>[]> {
  const rows = items.map((item) => item.row);
  const leaderOf = new Map<string, number>();
  const sentIds = new Set<string>();
  const followers = new Map<number, number>();
  const sent: number[] = [];
  const skipped: number[] = [];
  rows.forEach((row, i) => {
    if (row.idempotencyKey !== null) {
      const key = scopedKey(row.agent, row.idempotencyKey);
      const leader = leaderOf.get(key);
      if (leader !== undefined) {
        followers.set(i, leader);
        return;
      }
      leaderOf.set(key, i);
    }
    if (sentIds.has(row.id)) {
      skipped.push(i);
      return;
    }
    sentIds.add(row.id);
    sent.push(i);
  });

  const results: (Settled<InsertDecisionResult> | undefined)[] = Array.from({ length: rows.length }, () => undefined);
  if (sent.length > 0) {
    const column = <K extends keyof DecisionRow>(key: K): DecisionRow[K][] =>
      sent.map((i) => (rows[i] as DecisionRow)[key]);
    const { rows: inserted } = await client.query(
      `INSERT INTO ${table} (id, created_at, agent, idempotency_key, request_digest, state, verdict, body)
       SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
                            $5::text[], $6::text[], $7::text[], $8::jsonb[])
       ON CONFLICT DO NOTHING
       RETURNING id`,
      [
        column('id'),
        column('createdAt'),
        column('agent'),
        column('idempotencyKey'),
        column('requestDigest'),
        column('state'),
        column('verdict'),
        column('body'),
      ],
    );
    const insertedIds = new Set((inserted as { id: string }[]).map((r) => r.id));
    for (const i of sent) {
      const row = rows[i] as DecisionRow;
      if (insertedIds.has(row.id)) {
        const { decision } = items[i] as InsertItem;
        results[i] = { ok: true, value: { decision, requestDigest: row.requestDigest, created: true } };
      } else {
        skipped.push(i);
      }
    }
  }

  const keyed = skipped.filter((i) => (rows[i] as DecisionRow).idempotencyKey !== null);
  const existing = new Map<string, ExistingRow>();
  if (keyed.length > 0) {
    const { rows: found } = await client.query(
      `SELECT agent, idempotency_key, request_digest, body FROM ${table}
       WHERE (agent, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keyed.map((i) => (rows[i] as DecisionRow).agent), keyed.map((i) => (rows[i] as DecisionRow).idempotencyKey)],
    );
    for (const row of found as ExistingRow[]) existing.set(scopedKey(row.agent, row.idempotency_key), row);
  }
  for (const i of skipped) {
    const row = rows[i] as DecisionRow;
    const found = row.idempotencyKey === null ? undefined : existing.get(scopedKey(row.agent, row.idempotencyKey));
    results[i] =
      found === undefined
        ? { ok: false, error: new GovernorError('STORE_CONFLICT', `a decision with id ${row.id} already exists`) }
        : { ok: true, value: { decision: found.body, requestDigest: found.request_digest, created: false } };
  }

  return results.map((result, i) => {
    if (result !== undefined) return result;
    const leader = results[followers.get(i) as number] as Settled<InsertDecisionResult>;
    return leader.ok ? { ok: true, value: { ...leader.value, created: false } } : leader;
  });
}

async function transitionDecisions(
  client: PostgresQueryable,
  table: string,
  items: readonly TransitionItem[],
): Promise<Settled<Decision | undefined>[]> {
  const results: Settled<Decision | undefined>[] = [];
  for (const { id, from, to } of items) {
    const { rows } = await client.query(
      `UPDATE ${table} SET state = $3, body = jsonb_set(body, '{state}', to_jsonb($3::text))
       WHERE id = $1 AND state = $2
       RETURNING body`,
      [id, from, to],
    );
    results.push({ ok: true, value: (rows[0] as BodyRow | undefined)?.body });
  }
  return results;
}

async function recordOutcomes(
  client: PostgresQueryable,
  table: string,
  items: readonly OutcomeItem[],
): Promise<Settled<Decision>[]> {
  const results: Settled<Decision>[] = [];
  for (const { id, outcome } of items) {
    const { rows } = await client.query(
      `UPDATE ${table} SET outcome = $2::jsonb, body = jsonb_set(body, '{outcome}', $2::jsonb)
       WHERE id = $1 AND outcome IS NULL
       RETURNING body`,
      [id, outcome],
    );
    const row = rows[0] as BodyRow | undefined;
    if (row !== undefined) {
      results.push({ ok: true, value: row.body });
      continue;
    }
    const { rowCount } = await client.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
    results.push({
      ok: false,
      error:
        rowCount === 0
          ? new GovernorError('NOT_FOUND', `no decision ${id}`)
          : new GovernorError('CONFLICT', `decision ${id} already has an outcome`),
    });
  }
  return results;
}

function scopedKey(agent: string, key: string): string {
  return JSON.stringify([agent, key]);
}
