import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Principal } from '../../src/core/types.js';
import { loadPolicy, type CompiledPolicy } from '../../src/policy/index.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

/** The example policy and inventory texts. */
export const EXAMPLE_POLICY = readFileSync(`${examples}governor.yaml`, 'utf8');
export const EXAMPLE_INVENTORY = readFileSync(`${examples}inventory.yaml`, 'utf8');

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/** Compiles policy text against inventory text, throwing with every issue if invalid. */
export function compile(policy: string, inventory: string = EXAMPLE_INVENTORY): CompiledPolicy {
  const result = loadPolicy({ policy: { file: 'governor.yaml', text: policy }, inventory: { file: 'inventory.yaml', text: inventory } }, { sha256Hex });
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.file}:${i.line ?? '?'} ${i.path}: ${i.message}`).join('\n'));
  return result.value;
}

/** The issues of an invalid policy, as `file:line path: message` strings. */
export function compileIssues(policy: string, inventory: string = EXAMPLE_INVENTORY): string[] {
  const result = loadPolicy({ policy: { file: 'governor.yaml', text: policy }, inventory: { file: 'inventory.yaml', text: inventory } }, { sha256Hex });
  if (result.ok) return [];
  return result.issues.map((i) => `${i.file}:${i.line ?? '?'} ${i.path}: ${i.message}`);
}

/** A deployer with a task: the principal most example actions use. */
export const DEPLOYER: Principal = { agent: 'deploy-bot', instance: 'i-1', role: 'deployer', session: 's-1', task: 'T-1' };

/** A minimal policy header with the example catalog and the given rules (YAML list items). */
export function policyWithRules(rules: string): string {
  const head = EXAMPLE_POLICY.slice(0, EXAMPLE_POLICY.indexOf('\nrules:'));
  return `${head}\nrules:\n${rules}\n`;
}
