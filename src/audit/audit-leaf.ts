import { canonicalJson } from '../core/canonical-json.js';
import type { Decision, Outcome } from '../core/types.js';
import type { AuditCrypto } from './pure/audit-crypto.js';
import { encodeHex } from './pure/bytes.js';
import { hashLeaf } from './pure/merkle.js';
import type { NewLeaf } from '../store/store.js';

/** Leaves are kept well under 64 KiB: past this, bulky fields are replaced by their digests. */
export const LEAF_SOFT_LIMIT = 16 * 1024;
/** No leaf is ever larger than this. */
export const LEAF_HARD_LIMIT = 48 * 1024;
const MAX_MESSAGE = 1024;
const MAX_RESOURCES = 64;

const encoder = new TextEncoder();

/**
 * The leaf of a decision: the RFC 8785 canonical JSON of what was asked, by
 * whom, what Governor predicted and what it answered. The SHA-256 digest of the
 * full action is always included, so when bulky fields (parameters, SQL, long
 * impact breakdowns) are replaced by digests to bound the leaf, the record
 * still commits to exactly what was asked.
 */
export function decisionLeaf(crypto: AuditCrypto, decision: Decision, actionDigest: string): NewLeaf {
  const digest = (value: unknown) => encodeHex(crypto.sha256(encoder.encode(canonicalJson(value ?? null))));
  const record = {
    v: 1,
    type: 'decision',
    id: decision.id,
    time: decision.createdAt,
    principal: decision.principal,
    actionDigest,
    action: decision.action,
    ...(decision.requestedAction ? { requestedAction: decision.requestedAction } : {}),
    impact: decision.impact,
    verdict: decision.verdict,
    reasons: decision.reasons.map((r) => ({ ...r, message: clip(r.message) })),
    shadow: { verdict: decision.shadow.verdict, reasons: decision.shadow.reasons.map((r) => ({ ...r, message: clip(r.message) })) },
    ...(decision.approval ? { approval: decision.approval } : {}),
    ...(decision.breakGlass ? { breakGlass: decision.breakGlass } : {}),
    ...(decision.grant ? { grant: decision.grant } : {}),
    policyDigest: decision.policy.digest,
    mode: 'enforce',
  };
  let bytes = encoder.encode(canonicalJson(record));
  if (bytes.length > LEAF_SOFT_LIMIT) {
    const slim = (a: Decision['action']) => ({
      ...a,
      ...(a.params ? { params: { $sha256: digest(a.params) } } : {}),
      ...(a.sql ? { sql: { $sha256: digest(a.sql) } } : {}),
      ...(a.intent ? { intent: clip(a.intent) } : {}),
    });
    const bounded = {
      ...record,
      action: slim(decision.action),
      ...(decision.requestedAction ? { requestedAction: slim(decision.requestedAction) } : {}),
      impact: {
        ...decision.impact,
        unknown: decision.impact.unknown.slice(0, 16).map(clip),
        resources: decision.impact.resources.slice(0, MAX_RESOURCES),
        endpoints: decision.impact.endpoints.slice(0, 32).map((e) => ({ ...e, input: clip(e.input) })),
        truncated: decision.impact.resources.length > MAX_RESOURCES,
      },
    };
    bytes = encoder.encode(canonicalJson(bounded));
    if (bytes.length > LEAF_HARD_LIMIT) {
      bytes = encoder.encode(
        canonicalJson({ ...record, action: { $sha256: digest(decision.action) }, requestedAction: undefined, impact: { $sha256: digest(decision.impact) }, reasons: { $sha256: digest(decision.reasons) }, shadow: { verdict: decision.shadow.verdict } }),
      );
    }
  }
  return { bytes, hash: hashLeaf(crypto, bytes) };
}

/** The leaf of an outcome the agent reported. */
export function outcomeLeaf(crypto: AuditCrypto, decision: Decision, outcome: Outcome): NewLeaf {
  const detail = outcome.detail === undefined ? undefined : canonicalJson(outcome.detail);
  const record = {
    v: 1,
    type: 'outcome',
    decisionId: decision.id,
    time: outcome.at,
    principal: decision.principal,
    status: outcome.status,
    ...(detail === undefined ? {} : detail.length <= 4096 ? { detail: outcome.detail } : { detail: { $sha256: encodeHex(crypto.sha256(encoder.encode(detail))) } }),
  };
  const bytes = encoder.encode(canonicalJson(record));
  return { bytes, hash: hashLeaf(crypto, bytes) };
}

/**
 * The leaf of a control event: a vote, a resolution of a held action (approved,
 * rejected, expired, released), a break-glass session opened, used, closed or
 * expired. `event` must carry `type` and `time`; strings are clipped and the
 * leaf is bounded like a decision's (beyond the hard limit, the event is
 * replaced by its digest next to its type, time and subject).
 */
export function eventLeaf(crypto: AuditCrypto, event: { readonly type: string; readonly time: string; readonly [key: string]: unknown }): NewLeaf {
  const record = { v: 1, ...clipStrings(event) };
  let bytes = encoder.encode(canonicalJson(record));
  if (bytes.length > LEAF_HARD_LIMIT) {
    const digest = encodeHex(crypto.sha256(bytes));
    bytes = encoder.encode(canonicalJson({ v: 1, type: event.type, time: event.time, subject: event['decisionId'] ?? event['id'] ?? null, $sha256: digest }));
  }
  return { bytes, hash: hashLeaf(crypto, bytes) };
}

function clipStrings(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' ? clip(v) : v;
  }
  return out;
}

function clip(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE)}…`;
}
