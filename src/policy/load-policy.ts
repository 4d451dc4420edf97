import type { Issue, ParseResult } from '../core/errors.js';
import { parseInventory } from '../impact/inventory.js';
import { compilePolicy, type CompileDeps, type CompiledPolicy } from './compile-policy.js';
import { parsePolicy } from './parse-policy.js';
import { parseYamlSource } from './yaml-source.js';

/** The text of a policy file and of its inventory. */
export interface PolicySources {
  readonly policy: { readonly file: string; readonly text: string };
  readonly inventory: { readonly file: string; readonly text: string };
}

/**
 * Parses, validates and compiles a policy and its inventory. Every issue names
 * its file, and the line and path within it, so a bad policy is rejected with
 * a message a person can act on.
 */
export function loadPolicy(sources: PolicySources, deps: CompileDeps): ParseResult<CompiledPolicy> {
  const inFile = (file: string, issues: readonly Issue[]): ParseResult<never> => ({ ok: false, issues: issues.map((i) => ({ ...i, file })) });

  const inventorySource = parseYamlSource(sources.inventory.text, sources.inventory.file);
  if (!inventorySource.ok) return inFile(sources.inventory.file, inventorySource.issues);
  const inventory = parseInventory(inventorySource.value);
  if (!inventory.ok) return inFile(sources.inventory.file, inventory.issues);

  const policySource = parseYamlSource(sources.policy.text, sources.policy.file);
  if (!policySource.ok) return inFile(sources.policy.file, policySource.issues);
  const spec = parsePolicy(policySource.value);
  if (!spec.ok) return inFile(sources.policy.file, spec.issues);
  return compilePolicy(spec.value, inventory.value, deps, sources.policy.file);
}
