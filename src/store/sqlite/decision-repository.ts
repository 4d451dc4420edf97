import { GovernorError } from '../../core/errors.js';
import type { AuditRef, Decision, DecisionState, Outcome } from '../../core/types.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import { checkLeaf, withAuditRef } from '../audit-leaf.js';
import { listLimit, toDecisionRow, toOutcomeJson } from '../decision-row.js';
import type { DecisionRepository, InsertDecisionResult, ListDecisionsOptions, NewDecision, NewLeaf } from '../store.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';

interface BodyRow {
  readonly body: string;
}

interface ExistingRow extends BodyRow {
  readonly request_digest: string;
}

const LIST = 'SELECT body FROM decisions';
const LIST_ORDER = 'ORDER BY created_at DESC, seq DESC LIMIT @limit';

/**
 * Decisions on SQLite. Statements are prepared once; writes go through the
 * connection's group commit, and a decision's or outcome's audit leaf is
 * appended in the same transaction, only when the record is written.
 */
export class SqliteDecisionRepository implements DecisionRepository {
  readonly #connection: SqliteConnection;
  readonly #crypto: AuditCrypto;
  readonly #insert: SqliteStatement;
  readonly #byKey: SqliteStatement;
  readonly #get: SqliteStatement;
  readonly #recordOutcome: SqliteStatement;
  readonly #hasOutcome: SqliteStatement;
  readonly #transition: SqliteStatement;
  readonly #list: {
    readonly all: SqliteStatement;
    readonly state: SqliteStatement;
    readonly agent: SqliteStatement;
    readonly both: SqliteStatement;
  };

  constructor(connection: SqliteConnection, crypto: AuditCrypto) {
    this.#connection = connection;
    this.#crypto = crypto;
    // ON CONFLICT DO NOTHING covers both the primary key and (agent,
    // idempotency_key); which one fired is found out afterwards.
    this.#insert = connection.prepare(`
      INSERT INTO decisions (id, seq, created_at, agent, idempotency_key, request_digest, state, verdict, body)
      VALUES (@id, (SELECT coalesce(max(seq), 0) + 1 FROM decisions), @createdAt, @agent, @idempotencyKey,
              @requestDigest, @state, @verdict, @body)
      ON CONFLICT DO NOTHING
    `);
    this.#byKey = connection.prepare(
      'SELECT body, request_digest FROM decisions WHERE agent = ? AND idempotency_key = ?',
    );
    this.#get = connection.prepare('SELECT body FROM decisions WHERE id = ?');
    this.#recordOutcome = connection.prepare(`
      UPDATE decisions SET outcome = @outcome, body = json_set(body, '$.outcome', json(@outcome))
      WHERE id = @id AND outcome IS NULL
      RETURNING body
    `);
    this.#hasOutcome = connection.prepare('SELECT outcome IS NOT NULL AS recorded FROM decisions WHERE id = ?');
    this.#transition = connection.prepare(`
      UPDATE decisions SET state = @to, body = json_set(body, '$.state', @to)
      WHERE id = @id AND state = @from
      RETURNING body
    `);
    this.#list = {
      all: connection.prepare(`${LIST} ${LIST_ORDER}`),
      state: connection.prepare(`${LIST} WHERE state = @state ${LIST_ORDER}`),
      agent: connection.prepare(`${LIST} WHERE agent = @agent ${LIST_ORDER}`),
      both: connection.prepare(`${LIST} WHERE state = @state AND agent = @agent ${LIST_ORDER}`),
    };
  }

  async insert(entry: NewDecision): Promise<InsertDecisionResult> {
    const row = toDecisionRow(entry);
    const leaf = entry.leaf === undefined ? undefined : checkLeaf(this.#crypto, entry.leaf);
    return this.#connection.write((log): InsertDecisionResult => {
      if (leaf === undefined) {
        if (this.#insert.run(row).changes === 1) {
          return { decision: entry.decision, requestDigest: row.requestDigest, created: true };
        }
      } else {
        // The leaf's index if the decision is created; taken only then, as the write's last step.
        const audit: AuditRef = { index: log.next, leafHash: leaf.hex };
        if (this.#insert.run({ ...row, body: withAuditRef(row.body, audit) }).changes === 1) {
          log.take(leaf);
          return { decision: { ...entry.decision, audit }, requestDigest: row.requestDigest, created: true };
        }
      }
      if (row.idempotencyKey !== null) {
        const existing = this.#byKey.get(row.agent, row.idempotencyKey) as ExistingRow | undefined;
        if (existing !== undefined) {
          return { decision: parse(existing), requestDigest: existing.request_digest, created: false };
        }
      }
      throw new GovernorError('STORE_CONFLICT', `a decision with id ${row.id} already exists`);
    }, { audited: leaf !== undefined });
  }

  get(id: string): Promise<Decision | undefined> {
    return this.#connection.read(() => {
      const row = this.#get.get(id) as BodyRow | undefined;
      return row === undefined ? undefined : parse(row);
    });
  }

  async recordOutcome(id: string, outcome: Outcome, leaf?: NewLeaf): Promise<Decision> {
    const checked = leaf === undefined ? undefined : checkLeaf(this.#crypto, leaf);
    const json = toOutcomeJson(outcome, checked !== undefined);
    return this.#connection.write((log): Decision => {
      const stored = checked === undefined ? json : withAuditRef(json, { index: log.next, leafHash: checked.hex });
      const row = this.#recordOutcome.get({ id, outcome: stored }) as BodyRow | undefined;
      if (row !== undefined) {
        if (checked !== undefined) log.take(checked);
        return parse(row);
      }
      const existing = this.#hasOutcome.get(id) as { recorded: number } | undefined;
      if (existing === undefined) throw new GovernorError('NOT_FOUND', `no decision ${id}`);
      throw new GovernorError('CONFLICT', `decision ${id} already has an outcome`);
    }, { audited: checked !== undefined });
  }

  transition(id: string, from: DecisionState, to: DecisionState): Promise<Decision | undefined> {
    return this.#connection.write(() => {
      const row = this.#transition.get({ id, from, to }) as BodyRow | undefined;
      return row === undefined ? undefined : parse(row);
    });
  }

  async list(options: ListDecisionsOptions): Promise<readonly Decision[]> {
    const limit = listLimit(options);
    const { state, agent } = options;
    const statement =
      state !== undefined && agent !== undefined
        ? this.#list.both
        : state !== undefined
          ? this.#list.state
          : agent !== undefined
            ? this.#list.agent
            : this.#list.all;
    const params = { limit, ...(state === undefined ? {} : { state }), ...(agent === undefined ? {} : { agent }) };
    return this.#connection.read(() => (statement.all(params) as BodyRow[]).map(parse));
  }
}

function parse(row: BodyRow): Decision {
  return JSON.parse(row.body) as Decision;
}
