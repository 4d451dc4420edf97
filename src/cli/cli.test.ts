import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyring } from '../config/keyring.js';
import type { Evaluation } from '../core/types.js';
import { createIdentity } from '../main.js';

/** The example actions are requests as an agent sends them; the principal comes from flags. */
const AS_DEPLOYER = ['--agent', 'deploy-bot', '--role', 'deployer', '--task', 'T-1'];
import { runCli } from './main.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POLICY = 'examples/governor.yaml';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function cli(argv: readonly string[], cwd = ROOT): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t), cwd, env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('governor', () => {
  it('prints its usage on --help and exits 0', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Usage: governor <command>/);
    for (const name of ['init', 'serve', 'check', 'policy', 'token']) expect(run.out).toContain(`  ${name}`);
  });

  it('prints its usage and exits 2 without a command', async () => {
    const run = await cli([]);
    expect(run.code).toBe(2);
    expect(run.out).toContain('Usage: governor');
  });

  it.each(['init', 'serve', 'check', 'policy', 'token'])('%s --help prints the command usage and exits 0', async (name) => {
    for (const flag of ['--help', '-h']) {
      const run = await cli([name, flag]);
      expect(run.code).toBe(0);
      expect(run.out).toMatch(new RegExp(`^Usage: governor ${name}\\b`));
      expect(run.err).toBe('');
    }
  });

  it('refuses an unknown command with exit 2', async () => {
    const run = await cli(['deploy-everything']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('unknown command "deploy-everything"');
    expect(run.err).toContain('Usage: governor <command>');
  });

  it('refuses an unknown flag with exit 2 and the command help', async () => {
    const run = await cli(['check', 'examples/actions/allow.json', '--config', POLICY, '--yolo']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('--yolo');
    expect(run.err).toContain('Usage: governor check');
  });
});

describe('governor check', () => {
  it.each([
    ['allow', 0, 'ALLOW'],
    ['modify', 3, 'MODIFY'],
    ['pending', 4, 'PENDING (tier high, irreversible)'],
    ['deny', 5, 'DENY'],
  ] as const)('examples/actions/%s.json exits %i', async (name, code, verdict) => {
    const run = await cli(['check', `examples/actions/${name}.json`, '--config', POLICY, ...AS_DEPLOYER]);
    expect(run.err).toBe('');
    expect(run.code).toBe(code);
    expect(run.out.split('\n')[0]).toBe(`verdict: ${verdict}`);
    expect(run.out).toContain('reasons:');
  });

  it('names the rules behind each example verdict in --json output', async () => {
    const expected = { allow: 'deployers-operate-prod', modify: 'prod-blast-radius', pending: 'irreversible-needs-approval', deny: 'network-zones' } as const;
    for (const [name, rule] of Object.entries(expected)) {
      const run = await cli(['check', `examples/actions/${name}.json`, '--config', POLICY, '--json', ...AS_DEPLOYER]);
      const evaluation = JSON.parse(run.out) as Evaluation & { policy: { digest: string } };
      expect(evaluation.verdict).toBe(name);
      expect(evaluation.reasons.map((r) => r.rule)).toContain(rule);
      expect(evaluation.policy.digest).toMatch(/^[0-9a-f]{64}$/);
    }
    const modify = JSON.parse((await cli(['check', 'examples/actions/modify.json', '--config', POLICY, '--json', ...AS_DEPLOYER])).out) as Evaluation;
    expect(modify.action.params).toMatchObject({ service: 'payments', fraction: 0.05 });
  });

  it('lets flags override the principal in the file', async () => {
    const run = await cli(['check', 'examples/actions/allow.json', '--config', POLICY, ...AS_DEPLOYER, '--role', 'intern']);
    expect(run.code).toBe(5);
    expect(run.out).toContain('known-roles');
  });

  it('exits 2 for a missing file, an invalid action and an invalid policy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'governor-check-'));
    try {
      expect((await cli(['check', '--config', POLICY])).code).toBe(2);
      expect((await cli(['check', join(dir, 'nope.json'), '--config', POLICY])).code).toBe(2);

      await writeFile(join(dir, 'bad.json'), JSON.stringify({ action: { tool: 'restart service', environment: 'prod', force: true } }));
      const bad = await cli(['check', join(dir, 'bad.json'), '--config', POLICY]);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain('invalid action');

      const policy = readFileSync(join(ROOT, POLICY), 'utf8').replace('when: principal.role == "deployer"\n', 'when: action.envirnoment == "prod"\n');
      await writeFile(join(dir, 'governor.yaml'), policy);
      await writeFile(join(dir, 'inventory.yaml'), readFileSync(join(ROOT, 'examples/inventory.yaml')));
      const invalid = await cli(['check', 'examples/actions/allow.json', '--config', join(dir, 'governor.yaml'), ...AS_DEPLOYER]);
      expect(invalid.code).toBe(2);
      expect(invalid.err).toContain(`${join(dir, 'governor.yaml')}:`);
      expect(invalid.err).toContain('envirnoment');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('governor policy test', () => {
  it('passes every example fixture', async () => {
    const cases = (parseYaml(readFileSync(join(ROOT, 'examples/policy-tests/example.yaml'), 'utf8')) as { cases: unknown[] }).cases.length;
    expect(cases).toBeGreaterThanOrEqual(12);
    const run = await cli(['policy', 'test', 'examples/policy-tests', '--config', POLICY]);
    expect(run.err).toBe('');
    expect(run.out.split('\n').at(-1)).toBe(`${cases} passed, 0 failed`);
    expect(run.code).toBe(0);
  });

  it('the example fixtures name every rule of the example policy', async () => {
    const policy = parseYaml(readFileSync(join(ROOT, POLICY), 'utf8')) as { rules: { id: string; mode?: string }[] };
    const fixtures = readFileSync(join(ROOT, 'examples/policy-tests/example.yaml'), 'utf8');
    const doc = parseYaml(fixtures) as { cases: { expect: { rules?: string[]; shadow?: string; budgets?: string[] } }[] };
    const named = new Set(doc.cases.flatMap((c) => [...(c.expect.rules ?? []), ...(c.expect.budgets ?? [])]));
    for (const rule of policy.rules) {
      if (rule.mode === 'shadow') expect(doc.cases.some((c) => c.expect.shadow === 'deny')).toBe(true);
      else expect(named, `rule ${rule.id}`).toContain(rule.id);
    }
  });

  it('exits 1 and says why when a fixture fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'governor-fixtures-'));
    try {
      await writeFile(
        join(dir, 'wrong.yaml'),
        [
          'cases:',
          '  - name: metadata is fine, surely',
          '    principal: { agent: bot, role: deployer, task: T-1 }',
          '    action: { tool: http_request, environment: prod, params: { url: "http://169.254.169.254/" } }',
          '    expect: { verdict: allow }',
          '  - name: this one is right',
          '    principal: { agent: bot, role: deployer, task: T-1 }',
          '    action: { tool: http_request, environment: prod, params: { url: "http://169.254.169.254/" } }',
          '    expect: { verdict: deny, rules: [network-zones] }',
          '  - name: wrong rule',
          '    principal: { agent: bot, role: deployer, task: T-1 }',
          '    action: { tool: http_request, environment: prod, params: { url: "http://169.254.169.254/" } }',
          '    expect: { verdict: deny, rules: [prod-blast-radius] }',
          '',
        ].join('\n'),
      );
      const run = await cli(['policy', 'test', dir, '--config', POLICY]);
      expect(run.code).toBe(1);
      expect(run.out).toContain('FAIL wrong.yaml › metadata is fine, surely');
      expect(run.out).toContain('verdict: expected allow, got deny');
      expect(run.out).toContain('PASS wrong.yaml › this one is right');
      expect(run.out).toContain('expected a reason from rule "prod-blast-radius"');
      expect(run.out.split('\n').at(-1)).toBe('1 passed, 2 failed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 without a directory or subcommand', async () => {
    expect((await cli(['policy', '--config', POLICY])).code).toBe(2);
    expect((await cli(['policy', 'test', '--config', POLICY])).code).toBe(2);
    expect((await cli(['policy', 'lint', 'examples/policy-tests', '--config', POLICY])).code).toBe(2);
  });
});

describe('governor init and token issue', () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-cli-'));
    const run = await cli(['init', dir]);
    expect(run.code).toBe(0);
    config = join(dir, 'governor.yaml');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('init writes the example policy and private keys only the owner can read', async () => {
    expect(await readFile(config, 'utf8')).toBe(readFileSync(join(ROOT, POLICY), 'utf8'));
    expect(await readFile(join(dir, 'inventory.yaml'), 'utf8')).toBe(readFileSync(join(ROOT, 'examples/inventory.yaml'), 'utf8'));
    for (const key of ['agent-issuer', 'operator-issuer']) {
      expect((await stat(join(dir, '.governor', 'keys', `${key}.key`))).mode & 0o077).toBe(0);
    }
  });

  it('init never overwrites', async () => {
    await writeFile(config, '# mine\n');
    const keyBefore = await readFile(join(dir, '.governor', 'keys', 'agent-issuer.key'), 'utf8');
    const run = await cli(['init', dir]);
    expect(run.code).toBe(0);
    expect(run.out).toContain('kept');
    expect(await readFile(config, 'utf8')).toBe('# mine\n');
    expect(await readFile(join(dir, '.governor', 'keys', 'agent-issuer.key'), 'utf8')).toBe(keyBefore);
    await writeFile(config, readFileSync(join(ROOT, POLICY)));
  });

  it('refuses an agent credential to an agent without a card, and registers cards', async () => {
    const refused = await cli(['token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--config', config]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('governor agents register deploy-bot');
    const registered = await cli(['agents', 'register', 'deploy-bot', '--owner', 'team-platform', '--purpose', 'deploys and restarts services', '--trust', 'production', '--tools', 'deploy,restart_service', '--config', config]);
    expect(registered.code).toBe(0);
    expect(registered.out).toContain('registered agent deploy-bot (owner team-platform, trust production)');
    expect((await cli(['agents', 'register', 'deploy-bot', '--owner', 'x', '--purpose', 'y', '--config', config])).code).toBe(1);
    expect((await cli(['agents', 'register', 'a', '--owner', 'x', '--purpose', 'y', '--trust', 'root', '--config', config])).code).toBe(2);
    const listed = await cli(['agents', 'list', '--config', config]);
    expect(listed.out).toContain('deploy-bot  trust production  owner team-platform');
  });

  it('issues an agent credential the server accepts', async () => {
    const run = await cli(['token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--task', 'T-1', '--config', config]);
    expect(run.code).toBe(0);
    const token = run.out.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const identity = createIdentity(await loadKeyring(join(dir, '.governor')), Date.now);
    const verified = identity.auth.agent(token);
    expect(verified.ok && verified.value).toMatchObject({ agent: 'deploy-bot', role: 'deployer', task: 'T-1' });
    expect((await identity.auth.operator(token)).ok).toBe(false);
  });

  it('issues an operator credential with groups', async () => {
    const run = await cli(['token', 'issue', '--operator', 'alice', '--groups', 'sre, dba', '--ttl', '1h', '--config', config]);
    expect(run.code).toBe(0);
    const identity = createIdentity(await loadKeyring(join(dir, '.governor')), Date.now);
    const verified = await identity.auth.operator(run.out.trim());
    expect(verified.ok && verified.value).toEqual({ name: 'alice', groups: ['sre', 'dba'] });
    expect(identity.auth.agent(run.out.trim()).ok).toBe(false);
  });

  it('prints the claims with --json', async () => {
    const run = await cli(['token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--ttl', '30s', '--json', '--data-dir', join(dir, '.governor')]);
    expect(run.code).toBe(0);
    const issued = JSON.parse(run.out) as { token: string; expiresAt: string; principal: { agent: string } };
    expect(issued.principal.agent).toBe('deploy-bot');
    expect(Date.parse(issued.expiresAt) - Date.now()).toBeLessThanOrEqual(30_000);
  });

  it('exits 2 for a missing --role, a missing identity, both identities or a bad ttl', async () => {
    const missingRole = await cli(['token', 'issue', '--agent', 'deploy-bot', '--config', config]);
    expect(missingRole.code).toBe(2);
    expect(missingRole.err).toContain('--role is required');
    expect(missingRole.out).toBe('');
    expect((await cli(['token', 'issue', '--config', config])).code).toBe(2);
    expect((await cli(['token', 'issue', '--agent', 'a', '--role', 'r', '--operator', 'o', '--config', config])).code).toBe(2);
    expect((await cli(['token', 'issue', '--operator', 'alice', '--ttl', 'forever', '--config', config])).code).toBe(2);
    expect((await cli(['token', 'issue', '--operator', 'alice smith', '--config', config])).code).toBe(2);
    const badTtl = await cli(['token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--ttl', 'forever', '--config', config]);
    expect(badTtl.code).toBe(2);
    expect(badTtl.err).toContain('ttl');
    expect(badTtl.err).toContain('Usage: governor token');
    expect((await cli(['token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--ttl', '2d', '--config', config])).code).toBe(2);
    expect((await cli(['token', 'issue', '--agent', 'deploy bot', '--role', 'deployer', '--config', config])).code).toBe(2);
    expect((await cli(['token', 'mint', '--agent', 'a', '--role', 'r', '--config', config])).code).toBe(2);
  });

  it('fails without keys', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'governor-nokeys-'));
    try {
      const run = await cli(['token', 'issue', '--agent', 'a', '--role', 'r', '--config', join(empty, 'governor.yaml')]);
      expect(run.code).not.toBe(0);
      expect(run.out).toBe('');
      expect(run.err).toContain('governor token:');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
