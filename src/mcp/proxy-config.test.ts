import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpCommand } from '../cli/commands/mcp.js';
import { parseProxyConfig } from './proxy-config.js';
import { safeServerName } from './governance-proxy.js';

const issues = (text: string) => {
  const r = parseProxyConfig(text, 'proxy.yaml');
  return r.ok ? [] : r.issues.map((i) => `${i.line ?? '?'} ${i.path}: ${i.message}`);
};

describe('the proxy configuration file', () => {
  it('accepts a complete file and keeps only what it says', () => {
    const r = parseProxyConfig(
      'governor: { url: "http://127.0.0.1:8080/" }\nenvironment: prod\nserverName: "@acme/infra"\npendingTimeoutMs: 600000\ncallTimeoutMs: 30000\nmaxArgumentBytes: 65536\n',
      'proxy.yaml',
    );
    expect(r).toEqual({
      ok: true,
      value: { governorUrl: 'http://127.0.0.1:8080', environment: 'prod', serverName: '@acme/infra', pendingTimeoutMs: 600000, callTimeoutMs: 30000, maxArgumentBytes: 65536 },
    });
  });

  it('names the line, the path and what was expected for every problem', () => {
    expect(issues('governor: { url: ftp://x }\nenvironment: prod\ntimeout: 5\ncallTimeoutMs: -1\nmaxArgumentBytes: 1.5\n')).toEqual([
      '3 timeout: unknown key "timeout" (expected one of: governor, environment, serverName, pendingTimeoutMs, callTimeoutMs, maxArgumentBytes)',
      '1 governor.url: expected an http(s) URL, got "ftp://x"',
      '4 callTimeoutMs: expected a number >= 1, got -1',
      '5 maxArgumentBytes: expected an integer, got 1.5',
    ]);
    expect(issues('environment: prod\n')).toEqual(['1 governor: required: { url: http://host:port }']);
    expect(issues('governor: { url: "http://g" }\nenvironment: "prod env"\nserverName: "has space"\n')).toEqual([
      '2 environment: expected an identifier (letters, digits, . _ : @ -), got "prod env"',
      '3 serverName: expected a name of printable characters without spaces, got "has space"',
    ]);
    expect(issues('governor: [1\n')[0]).toMatch(/^\d+ : Flow sequence/);
  });

  it('makes any reported server name safe for pinning', () => {
    expect(safeServerName('secure-filesystem-server')).toBe('secure-filesystem-server');
    expect(safeServerName('My Server ✨ v2')).toBe('My-Server-v2');
    expect(safeServerName('   ')).toBe('mcp-server');
    expect(safeServerName('x'.repeat(300))).toHaveLength(128);
  });
});

describe('governor mcp (usage)', () => {
  let dir: string;
  const io = (env: Record<string, string> = {}) => {
    const err: string[] = [];
    return { err, io: { out: () => {}, err: (t: string) => err.push(t), cwd: dir, env } };
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-mcp-cli-'));
    await writeFile(join(dir, 'bad.yaml'), 'governor: { url: "http://127.0.0.1:1" }\nenvironment: prod\nretries: 3\n');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it.each([
    [[], /missing subcommand/],
    [['frobnicate'], /unknown subcommand "frobnicate"/],
    [['wrap', '--environment', 'prod'], /missing the server command/],
    [['wrap', '--environment', 'prod', '--'], /missing the server command after --/],
    [['wrap', '--bogus', '--', 'node', 'x.js'], /Unknown option '--bogus'/],
    [['serve', '--environment', 'prod'], /--upstream URL is required/],
    [['serve', '--upstream', 'file:///etc/passwd', '--environment', 'prod'], /--upstream must be an http\(s\) URL/],
    [['approve-tool', '--server', 's'], /--server, --tool and --hash are required/],
  ])('%j is a usage error', async (argv, message) => {
    await expect(mcpCommand.run(argv, io({ GOVERNOR_AGENT_TOKEN: 't' }).io)).rejects.toThrow(message);
  });

  it('wrap needs an environment, from the flag or the config file', async () => {
    await expect(mcpCommand.run(['wrap', '--url', 'http://127.0.0.1:1', '--', 'node', 'x.js'], io({ GOVERNOR_AGENT_TOKEN: 't' }).io)).rejects.toThrow(/no environment/);
  });

  it('wrap refuses an invalid config file with its line', async () => {
    await expect(mcpCommand.run(['wrap', '--config', 'bad.yaml', '--', 'node', 'x.js'], io({ GOVERNOR_AGENT_TOKEN: 't' }).io)).rejects.toThrow(/bad\.yaml:3: retries: unknown key "retries"/);
  });

  it('wrap does not start when Governor cannot be reached (exit 1) and says so on stderr', async () => {
    const run = io({ GOVERNOR_AGENT_TOKEN: 't' });
    expect(await mcpCommand.run(['wrap', '--url', 'http://127.0.0.1:1', '--environment', 'prod', '--', 'node', 'x.js'], run.io)).toBe(1);
    expect(run.err.join('\n')).toMatch(/cannot verify the agent credential with Governor at http:\/\/127\.0\.0\.1:1/);
  });
});
