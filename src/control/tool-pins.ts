import { canonicalJson } from '../core/canonical-json.js';
import { GovernorError } from '../core/errors.js';
import type { Operator, Principal } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { ControlRecord, Store } from '../store/store.js';

/** An MCP tool definition as an upstream server lists it (untrusted). */
export interface ToolDefinition {
  readonly name: string;
  readonly description?: string;
  readonly inputSchema?: unknown;
}

/** What a pin check says about one tool. */
export interface PinCheck {
  readonly name: string;
  readonly hash: string;
  /** First sight (now pinned), the pinned definition, or a changed one. */
  readonly pin: 'new' | 'match' | 'changed';
  /** Calls are refused until an operator approves the changed definition. */
  readonly blocked: boolean;
}

/** A pinned tool as listed to operators. */
export interface ToolPin {
  readonly server: string;
  readonly tool: string;
  readonly state: 'approved' | 'changed';
  readonly hash: string;
  readonly approvedBy: string;
  readonly approvedAt: string;
  /** The changed definition waiting for approval. */
  readonly pending?: { readonly hash: string; readonly definition: ToolDefinition; readonly seenAt: string; readonly seenBy: string };
  readonly definition: ToolDefinition;
}

/** Tool pinning: the rug-pull defence of the MCP proxy. */
export interface ToolPins {
  check(principal: Principal, server: string, tools: readonly ToolDefinition[]): Promise<readonly PinCheck[]>;
  list(state?: ToolPin['state']): Promise<readonly ToolPin[]>;
  approve(operator: Operator, server: string, tool: string, hash: string): Promise<ToolPin>;
}

const KIND = 'tool-pin';

/**
 * Creates the pin registry: a tool's definition (name, description, input
 * schema) is pinned by its SHA-256 the first time it is seen; a later change
 * blocks calls to it until an operator approves the new definition. Pinning,
 * changes and approvals are audit leaves.
 */
export function createToolPins(options: {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  readonly audit: { appended(count: number): void };
  readonly sha256Hex: (text: string) => string;
}): ToolPins {
  const { store, crypto } = options;
  const iso = () => new Date(options.clock()).toISOString();
  const idOf = (server: string, tool: string) => `${encodeURIComponent(server)}/${encodeURIComponent(tool)}`;
  const definitionOf = (t: ToolDefinition): ToolDefinition => ({ name: t.name, ...(t.description === undefined ? {} : { description: t.description }), inputSchema: t.inputSchema ?? null });
  const hashOf = (t: ToolDefinition) => options.sha256Hex(canonicalJson(definitionOf(t)));

  return {
    async check(principal, server, tools) {
      const results: PinCheck[] = [];
      for (const tool of tools) {
        const hash = hashOf(tool);
        const id = idOf(server, tool.name);
        const at = iso();
        const existing = await store.records.get(KIND, id);
        if (!existing) {
          const body = { server, tool: tool.name, hash, definition: definitionOf(tool), approvedBy: `first-use:${principal.agent}`, approvedAt: at };
          const leaf = eventLeaf(crypto, { type: 'tool.pinned', time: at, server, tool: tool.name, hash, by: principal.agent });
          const { created, record } = await store.records.insert({ kind: KIND, id, state: 'approved', body, at, leaf });
          if (created) options.audit.appended(1);
          results.push(created ? { name: tool.name, hash, pin: 'new', blocked: false } : verdictFor(toPin(record), tool.name, hash));
          continue;
        }
        const pin = toPin(existing);
        if (pin.hash !== hash && pin.pending?.hash !== hash) {
          // A definition not seen before: record it as the pending change.
          const body = { ...pin, state: undefined, pending: { hash, definition: definitionOf(tool), seenAt: at, seenBy: principal.agent } };
          const leaf = eventLeaf(crypto, { type: 'tool.changed', time: at, server, tool: tool.name, from: pin.hash, to: hash, by: principal.agent });
          const updated = await store.records.update({ kind: KIND, id, version: existing.version, state: 'changed', body, at, leaf });
          if (updated) options.audit.appended(1);
        }
        results.push(verdictFor(pin, tool.name, hash));
      }
      return results;
    },

    async list(state) {
      const records = await store.records.list({ kind: KIND, ...(state ? { state } : {}), limit: 1000 });
      return records.map(toPin);
    },

    async approve(operator, server, tool, hash) {
      const existing = await store.records.get(KIND, idOf(server, tool));
      if (!existing) throw new GovernorError('NOT_FOUND', `no pinned tool ${tool} of server ${server}`);
      const pin = toPin(existing);
      if (pin.pending?.hash !== hash) {
        throw new GovernorError('CONFLICT', `tool ${tool} of ${server} has no pending definition ${hash.slice(0, 12)} (pinned ${pin.hash.slice(0, 12)}${pin.pending ? `, pending ${pin.pending.hash.slice(0, 12)}` : ''})`);
      }
      const at = iso();
      const body = { server, tool, hash, definition: pin.pending.definition, approvedBy: operator.name, approvedAt: at };
      const leaf = eventLeaf(crypto, { type: 'tool.approved', time: at, server, tool, from: pin.hash, to: hash, by: operator.name });
      const updated = await store.records.update({ kind: KIND, id: existing.id, version: existing.version, state: 'approved', body, at, leaf });
      if (!updated) throw new GovernorError('CONFLICT', `tool ${tool} of ${server} changed while it was being approved; list the pins again`);
      options.audit.appended(1);
      return toPin(updated);
    },
  };
}

function verdictFor(pin: ToolPin, name: string, hash: string): PinCheck {
  return hash === pin.hash ? { name, hash, pin: 'match', blocked: false } : { name, hash, pin: 'changed', blocked: true };
}

function toPin(record: ControlRecord): ToolPin {
  const body = record.body as Omit<ToolPin, 'state'>;
  return { ...body, state: record.state as ToolPin['state'] };
}
