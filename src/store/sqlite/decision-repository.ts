import { GovernorError } from '../../core/errors.js';
import type { AuditRef, Decision, DecisionState, Outcome } from '../../core/types.js';
import { copyLeaf, withAuditRef, type CheckedLeaf } from '../audit-leaf.js';
import { listLimit, toDecisionRow, toInsertConditions, toOutcomeJson, toResolutionJson, type DecisionRow, type InsertConditions } from '../decision-row.js';
import type { BatchLog } from '../leaf-batch.js';
import type { DecisionRepository, InsertDecisionResult, ListDecisionsOptions, NewDecision, NewLeaf, TransitionChange } from '../store.js';
import type { SqliteConnection, SqliteDatabase, SqliteStatement } from './sqlite-connection.js';
import { conditionFailed } from '../budget-request.js';
import type { SqliteBudgetWrites } from './budget-repository.js';
import type { SqliteRecordWrites } from './record-repository.js';

interface BodyRow {
  readonly body: string;
}

interface ExistingRow extends BodyRow {
  readonly request_digest: string;
}

/** What an insert returns from its batch: created (with its leaf's place when it has one), or the earlier decision holding its key. */
export type InsertWriteResult =
  | { readonly created: true; readonly audit?: AuditRef | undefined }
  | { readonly created: false; readonly body: string; readonly requestDigest: string };

const LIST = 'SELECT body FROM decisions';
const LIST_ORDER = 'ORDER BY created_at DESC, seq DESC LIMIT @limit';
const LIST_OLDEST = 'ORDER BY created_at ASC, seq ASC LIMIT @limit';

/**
 * Decisions on SQLite. Reads run on the store's connection; writes are queued
 * as commands, group-committed by the connection's writer
 * (`SqliteDecisionWrites`), and a decision's or outcome's audit leaf is
 * appended in the same transaction, only when the record is written. A leaf
 * is copied here and its hash checked by the writer.
 */
export class SqliteDecisionRepository implements DecisionRepository {
  readonly #connection: SqliteConnection;
  readonly #get: SqliteStatement;
  readonly #list: Readonly<Record<string, SqliteStatement>>;

  constructor(connection: SqliteConnection) {
    this.#connection = connection;
    this.#get = connection.prepare('SELECT body FROM decisions WHERE id = ?');
    const list: Record<string, SqliteStatement> = {};
    for (const [order, clause] of [
      ['newest', LIST_ORDER],
      ['oldest', LIST_OLDEST],
    ]) {
      list[`all/${order}`] = connection.prepare(`${LIST} ${clause}`);
      list[`state/${order}`] = connection.prepare(`${LIST} WHERE state = @state ${clause}`);
      list[`agent/${order}`] = connection.prepare(`${LIST} WHERE agent = @agent ${clause}`);
      list[`both/${order}`] = connection.prepare(`${LIST} WHERE state = @state AND agent = @agent ${clause}`);
    }
    this.#list = list;
  }

  async insert(entry: NewDecision): Promise<InsertDecisionResult> {
    const row = toDecisionRow(entry);
    const leaf = entry.leaf === undefined ? undefined : copyLeaf(entry.leaf);
    const conditions = toInsertConditions(entry);
    const result = await this.#connection.write({ op: 'insert', row, leaf, ...(conditions ? { conditions } : {}) });
    if (!result.created) {
      return { decision: parse(result), requestDigest: result.requestDigest, created: false };
    }
    const decision = result.audit === undefined ? entry.decision : { ...entry.decision, audit: result.audit };
    return { decision, requestDigest: row.requestDigest, created: true };
  }

  get(id: string): Promise<Decision | undefined> {
    return this.#connection.read(() => {
      const row = this.#get.get(id) as BodyRow | undefined;
      return row === undefined ? undefined : parse(row);
    });
  }

  async recordOutcome(id: string, outcome: Outcome, leaf?: NewLeaf): Promise<Decision> {
    const copied = leaf === undefined ? undefined : copyLeaf(leaf);
    const json = toOutcomeJson(outcome, copied !== undefined);
    const body = await this.#connection.write({ op: 'outcome', id, json, leaf: copied });
    return parse({ body });
  }

  async transition(id: string, from: DecisionState, to: DecisionState, change: TransitionChange = {}): Promise<Decision | undefined> {
    const leaf = change.leaf === undefined ? undefined : copyLeaf(change.leaf);
    const resolution = change.resolution === undefined ? undefined : toResolutionJson(change.resolution, leaf !== undefined);
    const body = await this.#connection.write({ op: 'transition', id, from, to, verdict: change.verdict, resolution, leaf });
    return body === undefined ? undefined : parse({ body });
  }

  async list(options: ListDecisionsOptions): Promise<readonly Decision[]> {
    const limit = listLimit(options);
    const { state, agent } = options;
    const filter = state !== undefined && agent !== undefined ? 'both' : state !== undefined ? 'state' : agent !== undefined ? 'agent' : 'all';
    const statement = this.#list[`${filter}/${options.order === 'oldest' ? 'oldest' : 'newest'}`] as SqliteStatement;
    const params = { limit, ...(state === undefined ? {} : { state }), ...(agent === undefined ? {} : { agent }) };
    return this.#connection.read(() => (statement.all(params) as BodyRow[]).map(parse));
  }
}

/**
 * The writes of decisions, run inside a batch transaction by `SqliteWriter`
 * (on the writer thread by default). Statements are prepared once on the
 * writer's connection. Each method throws to fail only its own write.
 */
export class SqliteDecisionWrites {
  readonly #insert: SqliteStatement;
  readonly #byKey: SqliteStatement;
  readonly #recordOutcome: SqliteStatement;
  readonly #hasOutcome: SqliteStatement;
  readonly #transition: SqliteStatement;
  readonly #records: SqliteRecordWrites;
  readonly #budgets: SqliteBudgetWrites;

  constructor(db: SqliteDatabase, records: SqliteRecordWrites, budgets: SqliteBudgetWrites) {
    this.#records = records;
    this.#budgets = budgets;
    // ON CONFLICT DO NOTHING covers both the primary key and (agent,
    // idempotency_key); which one fired is found out afterwards.
    this.#insert = db.prepare(`
      INSERT INTO decisions (id, seq, created_at, agent, idempotency_key, request_digest, state, verdict, body)
      VALUES (@id, (SELECT coalesce(max(seq), 0) + 1 FROM decisions), @createdAt, @agent, @idempotencyKey,
              @requestDigest, @state, @verdict, @body)
      ON CONFLICT DO NOTHING
    `);
    this.#byKey = db.prepare('SELECT body, request_digest FROM decisions WHERE agent = ? AND idempotency_key = ?');
    this.#recordOutcome = db.prepare(`
      UPDATE decisions SET outcome = @outcome, body = json_set(body, '$.outcome', json(@outcome))
      WHERE id = @id AND outcome IS NULL
      RETURNING body
    `);
    this.#hasOutcome = db.prepare('SELECT outcome IS NOT NULL AS recorded FROM decisions WHERE id = ?');
    // Expressions read the row as it was: `verdict` is the old verdict.
    this.#transition = db.prepare(`
      UPDATE decisions SET state = @to, verdict = coalesce(@verdict, verdict),
        body = json_set(
          CASE WHEN @resolution IS NULL THEN body ELSE json_set(body, '$.resolution', json(@resolution)) END,
          '$.state', @to, '$.verdict', coalesce(@verdict, verdict))
      WHERE id = @id AND state = @from
      RETURNING body
    `);
  }

  /**
   * Inserts `row`, or finds the decision holding its (agent, idempotency key);
   * throws STORE_CONFLICT for an id already taken. The leaf is taken only when
   * the decision is created, as the write's last step.
   */
  insert(row: DecisionRow, leaf: CheckedLeaf | undefined, log: BatchLog, conditions?: InsertConditions): InsertWriteResult {
    if (leaf === undefined) {
      if (this.#insert.run(row).changes === 1) {
        this.#apply(conditions, log);
        return { created: true };
      }
    } else {
      const audit: AuditRef = { index: log.next, leafHash: leaf.hex };
      if (this.#insert.run({ ...row, body: withAuditRef(row.body, audit) }).changes === 1) {
        log.take(leaf);
        // A condition that fails throws: the writer rolls this write back, leaf included.
        this.#apply(conditions, log);
        return { created: true, audit };
      }
    }
    if (row.idempotencyKey !== null) {
      const existing = this.#byKey.get(row.agent, row.idempotencyKey) as ExistingRow | undefined;
      if (existing !== undefined) return { created: false, body: existing.body, requestDigest: existing.request_digest };
    }
    throw new GovernorError('STORE_CONFLICT', `a decision with id ${row.id} already exists`);
  }

  #apply(conditions: InsertConditions | undefined, log: BatchLog): void {
    if (conditions?.budget) {
      const reserved = this.#budgets.reserve(conditions.budget);
      if (!reserved.ok) throw conditionFailed({ kind: 'budget', key: reserved.key, used: reserved.used, amount: reserved.amount, max: reserved.max });
    }
    if (conditions?.update && this.#records.update(conditions.update, undefined, log) === undefined) {
      throw conditionFailed({ kind: 'update', id: conditions.update.id });
    }
  }

  /** Records the outcome once (`json` without `audit` when there is a leaf); returns the decision's body. NOT_FOUND, CONFLICT. */
  recordOutcome(id: string, json: string, leaf: CheckedLeaf | undefined, log: BatchLog): string {
    const stored = leaf === undefined ? json : withAuditRef(json, { index: log.next, leafHash: leaf.hex });
    const row = this.#recordOutcome.get({ id, outcome: stored }) as BodyRow | undefined;
    if (row !== undefined) {
      if (leaf !== undefined) log.take(leaf);
      return row.body;
    }
    const existing = this.#hasOutcome.get(id) as { recorded: number } | undefined;
    if (existing === undefined) throw new GovernorError('NOT_FOUND', `no decision ${id}`);
    throw new GovernorError('CONFLICT', `decision ${id} already has an outcome`);
  }

  /**
   * Compare-and-set of the state (and verdict, resolution); the decision's body
   * after it, or undefined when it was not in `from`. The leaf is taken only
   * when the transition happens.
   */
  transition(
    change: { readonly id: string; readonly from: DecisionState; readonly to: DecisionState; readonly verdict?: string | undefined; readonly resolution?: string | undefined },
    leaf: CheckedLeaf | undefined,
    log: BatchLog,
  ): string | undefined {
    const { id, from, to } = change;
    let resolution = change.resolution ?? null;
    if (resolution !== null && leaf !== undefined) resolution = withAuditRef(resolution, { index: log.next, leafHash: leaf.hex });
    const row = this.#transition.get({ id, from, to, verdict: change.verdict ?? null, resolution }) as BodyRow | undefined;
    if (row !== undefined && leaf !== undefined) log.take(leaf);
    return row?.body;
  }
}

function parse(row: BodyRow): Decision {
  return JSON.parse(row.body) as Decision;
}
