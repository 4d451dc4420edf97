import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GovernorError, type Issue, type ParseResult } from '../core/errors.js';
import { loadPolicy, type CompiledPolicy } from '../policy/index.js';
import { formatIssues } from '../policy/yaml-source.js';
import { parseYamlSource } from '../policy/yaml-source.js';

/** Hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reads a policy file and the inventory it names, and compiles them. */
export async function readPolicyFile(policyPath: string): Promise<ParseResult<CompiledPolicy> & { files: string[] }> {
  const policyFile = resolve(policyPath);
  let policyText: string;
  try {
    policyText = await readFile(policyFile, 'utf8');
  } catch (err) {
    return { ok: false, issues: [{ file: policyFile, path: '', message: `cannot read the policy file: ${(err as Error).message}` }], files: [policyFile] };
  }
  // The inventory path is part of the policy; read it before full validation so both are checked together.
  const peek = parseYamlSource(policyText, policyFile);
  const named = peek.ok && typeof (peek.value.value as { inventory?: unknown } | null)?.inventory === 'string' ? ((peek.value.value as { inventory: string }).inventory) : 'inventory.yaml';
  const inventoryFile = resolve(dirname(policyFile), named);
  let inventoryText: string;
  try {
    inventoryText = await readFile(inventoryFile, 'utf8');
  } catch (err) {
    return { ok: false, issues: [{ file: inventoryFile, path: '', message: `cannot read the inventory file: ${(err as Error).message}` }], files: [policyFile, inventoryFile] };
  }
  const result = loadPolicy({ policy: { file: policyFile, text: policyText }, inventory: { file: inventoryFile, text: inventoryText } }, { sha256Hex });
  return { ...result, files: [policyFile, inventoryFile] };
}

/** Renders issues from several files, one per line. */
export function describeIssues(issues: readonly Issue[]): string {
  return issues.map((i) => formatIssues(i.file ?? '', [i])).join('\n');
}

/** The policy in force and what happened to the last reload attempt. */
export interface PolicyStatus {
  readonly digest: string;
  readonly loadedAt: string;
  readonly files: readonly string[];
  /** The last reload that failed validation, while the previous policy stays in force. */
  readonly lastError?: { readonly at: string; readonly message: string };
}

/** Holds the running policy and swaps it when its files change and still validate. */
export interface PolicyHolder {
  current(): CompiledPolicy;
  status(): PolicyStatus;
  /** Re-reads the files now; resolves true when a new policy is in force. */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * Loads the policy (throwing POLICY_INVALID with every issue if it is bad) and
 * watches its files. A change that fails validation never replaces the running
 * policy: the last good one stays, and `status().lastError` and `onReload` say why.
 */
export async function createPolicyHolder(
  policyPath: string,
  options: { watch?: boolean; clock?: () => number; onReload?: (event: { ok: boolean; digest: string; message?: string }) => void } = {},
): Promise<PolicyHolder> {
  const clock = options.clock ?? Date.now;
  const first = await readPolicyFile(policyPath);
  if (!first.ok) throw new GovernorError('POLICY_INVALID', `the policy is invalid:\n${describeIssues(first.issues)}`, { details: first.issues });
  let policy = first.value;
  let status: PolicyStatus = { digest: policy.digest, loadedAt: new Date(clock()).toISOString(), files: first.files };
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let reloading: Promise<boolean> | undefined;

  const reload = async (): Promise<boolean> => {
    const next = await readPolicyFile(policyPath);
    if (!next.ok) {
      const message = describeIssues(next.issues);
      status = { ...status, lastError: { at: new Date(clock()).toISOString(), message } };
      options.onReload?.({ ok: false, digest: status.digest, message });
      return false;
    }
    const changed = next.value.digest !== policy.digest;
    policy = next.value;
    status = { digest: policy.digest, loadedAt: changed ? new Date(clock()).toISOString() : status.loadedAt, files: next.files };
    if (changed) options.onReload?.({ ok: true, digest: policy.digest });
    return changed;
  };

  if (options.watch) {
    const schedule = () => {
      clearTimeout(timer);
      // Editors write files in several steps; wait for them to settle.
      timer = setTimeout(() => {
        // A reload never throws out of the watcher: a failure is reported and the last good policy stays.
        reloading = (reloading ?? Promise.resolve(false)).then(reload, reload).catch((err: unknown) => {
          try {
            options.onReload?.({ ok: false, digest: status.digest, message: `reload failed: ${(err as Error).message}` });
          } catch {
            // The reporter itself failed; the running policy is unaffected.
          }
          return false;
        });
      }, 100);
    };
    // Watch the directories: editors often replace a file rather than write it in place.
    for (const dir of new Set(first.files.map((f) => dirname(f)))) {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name && first.files.some((f) => f.endsWith(`/${name}`))) schedule();
      });
      w.on('error', () => undefined);
      watchers.push(w);
    }
  }

  return {
    current: () => policy,
    status: () => status,
    reload,
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
