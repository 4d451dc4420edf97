export { compilePolicy, type CompiledPolicy, type CompiledRule, type CompileDeps } from './compile-policy.js';
export { evaluatePolicy } from './evaluate-policy.js';
export { loadPolicy, type PolicySources } from './load-policy.js';
export type { PolicySpec, RuleSpec, ToolSpec } from './policy.js';
export { formatIssues } from './yaml-source.js';
