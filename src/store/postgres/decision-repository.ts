import { GovernorError } from '../../core/errors.js';
import type { AuditRef, Decision, DecisionState, Outcome } from '../../core/types.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import { checkLeaf, withAuditRef, type CheckedLeaf } from '../audit-leaf.js';
import { listLimit, toDecisionRow, toInsertConditions, toOutcomeJson, toResolutionJson, type DecisionRow, type InsertConditions } from '../decision-row.js';
import { bucketMs, conditionFailed, fits } from '../budget-request.js';
import type { Settled } from '../group-commit.js';
import type { BatchLog } from '../leaf-batch.js';
import type { DecisionRepository, InsertDecisionResult, ListDecisionsOptions, NewDecision, NewLeaf, TransitionChange } from '../store.js';
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
  readonly leaf: CheckedLeaf | undefined;
  readonly conditions?: InsertConditions | undefined;
}

interface TransitionItem {
  readonly id: string;
  readonly from: DecisionState;
  readonly to: DecisionState;
  readonly verdict: string | undefined;
  /** The resolution's JSON; without `audit` when `leaf` is set. */
  readonly resolution: string | undefined;
  readonly leaf: CheckedLeaf | undefined;
}

interface OutcomeItem {
  readonly id: string;
  /** The outcome's JSON; without `audit` when `leaf` is set. */
  readonly outcome: string;
  readonly leaf: CheckedLeaf | undefined;
}

/**
 * Decisions on PostgreSQL. Inserts adjacent in a batch become one
 * `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`: eight array
 * parameters whatever the batch size, so one plan and no parameter limit.
 * A decision's or outcome's audit leaf is appended in the same transaction,
 * only when the record is written.
 */
export class PostgresDecisionRepository implements DecisionRepository {
  readonly #connection: PostgresConnection;
  readonly #crypto: AuditCrypto;
  readonly #table: string;
  readonly #insertKind: PostgresWriteKind<InsertItem, InsertDecisionResult>;
  readonly #conditionalKind: PostgresWriteKind<InsertItem, InsertDecisionResult>;
  readonly #transitionKind: PostgresWriteKind<TransitionItem, Decision | undefined>;
  readonly #outcomeKind: PostgresWriteKind<OutcomeItem, Decision>;

  constructor(connection: PostgresConnection, table: TableName, crypto: AuditCrypto) {
    this.#connection = connection;
    this.#crypto = crypto;
    const decisions = table('decisions');
    this.#table = decisions;
    this.#insertKind = {
      name: 'decisions.insert',
      audited: (item) => item.leaf !== undefined,
      write: (client, items, log) => insertDecisions(client, decisions, items, log),
    };
    const records = table('records');
    const usage = table('budget_usage');
    this.#conditionalKind = {
      name: 'decisions.insertConditional',
      audited: (item) => item.leaf !== undefined,
      write: async (client, items, log) => {
        // Every budget key of the run, locked once, in order (replicas never deadlock).
        const keys = [...new Set(items.flatMap((i) => i.conditions?.budget?.demands.map((d) => d.key) ?? []))].sort();
        for (const key of keys) await client.query("SELECT pg_advisory_xact_lock(hashtextextended('governor.budget:' || $1, 0))", [key]);
        const results: Settled<InsertDecisionResult>[] = [];
        for (const item of items) {
          // Conditions first, in a savepoint: undone if they fail or if the insert finds an earlier decision (an idempotent retry).
          await client.query('SAVEPOINT governor_conditions');
          const failed = await applyConditions(client, usage, records, item.conditions);
          if (failed) {
            await client.query('ROLLBACK TO SAVEPOINT governor_conditions');
            await client.query('RELEASE SAVEPOINT governor_conditions');
            results.push({ ok: false, error: failed });
            continue;
          }
          const [result] = await insertDecisions(client, decisions, [item], log);
          if (result === undefined || !result.ok || !result.value.created) await client.query('ROLLBACK TO SAVEPOINT governor_conditions');
          await client.query('RELEASE SAVEPOINT governor_conditions');
          results.push(result ?? { ok: false, error: new GovernorError('INTERNAL', 'a conditional insert returned nothing') });
        }
        return results;
      },
    };
    this.#transitionKind = {
      name: 'decisions.transition',
      audited: (item) => item.leaf !== undefined,
      write: (client, items, log) => transitionDecisions(client, decisions, items, log),
    };
    this.#outcomeKind = {
      name: 'decisions.recordOutcome',
      audited: (item) => item.leaf !== undefined,
      write: (client, items, log) => recordOutcomes(client, decisions, items, log),
    };
  }

  async insert(entry: NewDecision): Promise<InsertDecisionResult> {
    const row = toDecisionRow(entry);
    const leaf = entry.leaf === undefined ? undefined : checkLeaf(this.#crypto, entry.leaf);
    const conditions = toInsertConditions(entry);
    if (conditions) return this.#connection.write(this.#conditionalKind, { row, decision: entry.decision, leaf, conditions });
    return this.#connection.write(this.#insertKind, { row, decision: entry.decision, leaf });
  }

  async get(id: string): Promise<Decision | undefined> {
    const { rows } = await this.#connection.query(`SELECT body FROM ${this.#table} WHERE id = $1`, [id]);
    return (rows[0] as BodyRow | undefined)?.body;
  }

  async recordOutcome(id: string, outcome: Outcome, leaf?: NewLeaf): Promise<Decision> {
    const checked = leaf === undefined ? undefined : checkLeaf(this.#crypto, leaf);
    const json = toOutcomeJson(outcome, checked !== undefined);
    return this.#connection.write(this.#outcomeKind, { id, outcome: json, leaf: checked });
  }

  async transition(id: string, from: DecisionState, to: DecisionState, change: TransitionChange = {}): Promise<Decision | undefined> {
    const leaf = change.leaf === undefined ? undefined : checkLeaf(this.#crypto, change.leaf);
    const resolution = change.resolution === undefined ? undefined : toResolutionJson(change.resolution, leaf !== undefined);
    return this.#connection.write(this.#transitionKind, { id, from, to, verdict: change.verdict, resolution, leaf });
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
       ORDER BY ${options.order === 'oldest' ? 'created_at ASC, seq ASC' : 'created_at DESC, seq DESC'} LIMIT $${values.length}`,
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
 *
 * Audit leaves: every item sent with a leaf is stored with the index it gets
 * if all of them are created. Only created decisions take a leaf, so when one
 * was skipped the later ones move down and their stored `audit` is corrected
 * in one more statement (rare: an idempotent retry racing its original).
 */
async function insertDecisions(
  client: PostgresQueryable,
  table: string,
  items: readonly InsertItem[],
  log: BatchLog,
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
  const taken: { readonly leaf: CheckedLeaf; readonly audit: AuditRef }[] = [];
  if (sent.length > 0) {
    const audits = assignIndices(items, sent, log, () => true);
    const column = <K extends keyof DecisionRow>(key: K): DecisionRow[K][] =>
      sent.map((i) => (rows[i] as DecisionRow)[key]);
    const bodies = sent.map((i) => {
      const audit = audits.get(i);
      const { body } = rows[i] as DecisionRow;
      return audit === undefined ? body : withAuditRef(body, audit);
    });
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
        bodies,
      ],
    );
    const insertedIds = new Set((inserted as { id: string }[]).map((r) => r.id));
    const created = (i: number): boolean => insertedIds.has((rows[i] as DecisionRow).id);
    const finalAudits = audits.size === 0 ? audits : assignIndices(items, sent, log, created);
    const moved = [...finalAudits].filter(([i, audit]) => audits.get(i)?.index !== audit.index);
    if (moved.length > 0) {
      await client.query(
        `UPDATE ${table} AS d SET body = jsonb_set(d.body, '{audit}', m.audit)
         FROM unnest($1::text[], $2::jsonb[]) AS m(id, audit) WHERE d.id = m.id`,
        [moved.map(([i]) => (rows[i] as DecisionRow).id), moved.map(([, audit]) => JSON.stringify(audit))],
      );
    }
    for (const i of sent) {
      const row = rows[i] as DecisionRow;
      if (!created(i)) {
        skipped.push(i);
        continue;
      }
      const { decision, leaf } = items[i] as InsertItem;
      const audit = finalAudits.get(i);
      if (leaf !== undefined && audit !== undefined) taken.push({ leaf, audit });
      const stored = audit === undefined ? decision : { ...decision, audit };
      results[i] = { ok: true, value: { decision: stored, requestDigest: row.requestDigest, created: true } };
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
  // The write's last step, after its last statement: leaves of the decisions created.
  for (const { leaf, audit } of taken) {
    if (log.take(leaf).index !== audit.index) throw new GovernorError('INTERNAL', 'an audit leaf index moved within its batch');
  }

  return results.map((result, i) => {
    if (result !== undefined) return result;
    const leader = results[followers.get(i) as number] as Settled<InsertDecisionResult>;
    return leader.ok ? { ok: true, value: { ...leader.value, created: false } } : leader;
  });
}

/** The audit refs the sent items with a leaf get, in order, counting only those `counts` accepts. */
function assignIndices(
  items: readonly InsertItem[],
  sent: readonly number[],
  log: BatchLog,
  counts: (i: number) => boolean,
): Map<number, AuditRef> {
  const audits = new Map<number, AuditRef>();
  let next: number | undefined;
  for (const i of sent) {
    const leaf = (items[i] as InsertItem).leaf;
    if (leaf === undefined || !counts(i)) continue;
    next ??= log.next;
    audits.set(i, { index: next, leafHash: leaf.hex });
    next++;
  }
  return audits;
}

async function transitionDecisions(
  client: PostgresQueryable,
  table: string,
  items: readonly TransitionItem[],
  log: BatchLog,
): Promise<Settled<Decision | undefined>[]> {
  const results: Settled<Decision | undefined>[] = [];
  for (const { id, from, to, verdict, resolution, leaf } of items) {
    const stored = resolution === undefined ? null : leaf === undefined ? resolution : withAuditRef(resolution, { index: log.next, leafHash: leaf.hex });
    const { rows } = await client.query(
      `UPDATE ${table} SET state = $3, verdict = coalesce($4, verdict),
         body = jsonb_set(jsonb_set(
           CASE WHEN $5::jsonb IS NULL THEN body ELSE jsonb_set(body, '{resolution}', $5::jsonb) END,
           '{state}', to_jsonb($3::text)), '{verdict}', to_jsonb(coalesce($4, verdict)))
       WHERE id = $1 AND state = $2
       RETURNING body`,
      [id, from, to, verdict ?? null, stored],
    );
    const row = rows[0] as BodyRow | undefined;
    if (row !== undefined && leaf !== undefined) log.take(leaf);
    results.push({ ok: true, value: row?.body });
  }
  return results;
}

async function recordOutcomes(
  client: PostgresQueryable,
  table: string,
  items: readonly OutcomeItem[],
  log: BatchLog,
): Promise<Settled<Decision>[]> {
  const results: Settled<Decision>[] = [];
  for (const { id, outcome, leaf } of items) {
    const stored = leaf === undefined ? outcome : withAuditRef(outcome, { index: log.next, leafHash: leaf.hex });
    const { rows } = await client.query(
      `UPDATE ${table} SET outcome = $2::jsonb, body = jsonb_set(body, '{outcome}', $2::jsonb)
       WHERE id = $1 AND outcome IS NULL
       RETURNING body`,
      [id, stored],
    );
    const row = rows[0] as BodyRow | undefined;
    if (row !== undefined) {
      if (leaf !== undefined) log.take(leaf);
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

/** Runs a decision's conditions; the error when one fails (the caller rolls back), undefined when all held. */
async function applyConditions(client: PostgresQueryable, usage: string, records: string, conditions: InsertConditions | undefined): Promise<GovernorError | undefined> {
  const budget = conditions?.budget;
  if (budget) {
    for (const d of budget.demands) {
      const width = bucketMs(d, budget.at);
      const { rows } = await client.query(`SELECT coalesce(sum(amount), 0)::float8 AS used FROM ${usage} WHERE key = $1 AND bucket >= $2`, [d.key, Math.floor(d.since / width)]);
      const used = Number((rows[0] as { used: number }).used);
      if (!fits(used, d.amount, d.max)) return conditionFailed({ kind: 'budget', key: d.key, used, amount: d.amount, max: d.max });
    }
    await client.query(
      `INSERT INTO ${usage} AS u (key, bucket, amount) SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[])
       ON CONFLICT (key, bucket) DO UPDATE SET amount = u.amount + excluded.amount`,
      [budget.demands.map((d) => d.key), budget.demands.map((d) => Math.floor(budget.at / bucketMs(d, budget.at))), budget.demands.map((d) => d.amount)],
    );
  }
  const update = conditions?.update;
  if (update) {
    const { rowCount } = await client.query(
      `UPDATE ${records} SET state = $3, version = $4, body = $5::jsonb, updated_at = $6 WHERE kind = $1 AND id = $2 AND version = $4 - 1`,
      [update.kind, update.id, update.state, update.version, update.body, update.at],
    );
    if (rowCount !== 1) return conditionFailed({ kind: 'update', id: update.id });
  }
  return undefined;
}

function scopedKey(agent: string, key: string): string {
  return JSON.stringify([agent, key]);
}
