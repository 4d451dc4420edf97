import { dirname, join, resolve } from 'node:path';
import { loadKeyring } from '../../config/keyring.js';
import { createIdentity, DEFAULT_AGENT_TTL } from '../../main.js';
import { parseDuration } from '../../identity/parse-duration.js';
import { isGovernorError } from '../../core/errors.js';
import { configFlag, parseFlags, UsageError, type Command } from '../args.js';
import { openAgentRegistry } from './agents.js';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'issue agent and operator credentials',
  help: `Usage: governor token issue --agent ID --role ROLE [--ttl 15m] [--task ID] [--instance ID] [--session ID] [--database-url URL]
       governor token issue --operator NAME --groups G1,G2 [--ttl 8h]

Prints a short-lived Ed25519-signed credential (a JWT) on standard output.
Agent credentials carry agent, instance, role, session and an optional task;
operator (human) credentials carry a name and groups and are signed with a
different key, so one can never stand in for the other. An agent needs an
agent card first (governor agents register).

  --config FILE     the policy whose data dir holds the keys (default governor.yaml)
  --data-dir DIR    where the keys are (default .governor beside the policy)
  --ttl DURATION    lifetime: 30s, 15m, 1h, 1d (agent default 15m, operator 8h; at most 24h)
  --json            print the token with its claims as JSON`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...configFlag,
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        agent: { type: 'string' },
        role: { type: 'string' },
        task: { type: 'string' },
        instance: { type: 'string' },
        session: { type: 'string' },
        operator: { type: 'string' },
        groups: { type: 'string' },
        ttl: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      1,
    );
    if (positionals[0] !== 'issue') throw new UsageError(positionals[0] ? `unknown subcommand "${positionals[0]}"` : 'missing subcommand: issue');
    const dataDir = values['data-dir'] ? resolve(io.cwd, values['data-dir']) : join(dirname(resolve(io.cwd, values.config)), '.governor');
    const identity = createIdentity(await loadKeyring(dataDir), Date.now);
    // A credential request the issuer refuses (bad ttl, id or group) is a usage error: exit 2, with the help.
    const asUsage = <T>(issue: () => T): T => {
      try {
        return issue();
      } catch (err) {
        if (isGovernorError(err, 'BAD_REQUEST')) throw new UsageError(err.message);
        throw err;
      }
    };

    if (values.agent !== undefined) {
      if (values.operator !== undefined) throw new UsageError('give either --agent or --operator, not both');
      if (!values.role) throw new UsageError('--role is required with --agent');
      const request = {
        agent: values.agent,
        role: values.role,
        ttl: values.ttl ?? DEFAULT_AGENT_TTL,
        ...(values.task ? { task: values.task } : {}),
        ...(values.instance ? { instance: values.instance } : {}),
        ...(values.session ? { session: values.session } : {}),
      };
      // No card, no credential: the card says who owns the agent and what it may do.
      const { registry, store } = await openAgentRegistry(values, io);
      try {
        if (!(await registry.get(values.agent))) {
          throw new UsageError(`agent ${values.agent} has no agent card: register it first with governor agents register ${values.agent} --owner TEAM --purpose TEXT`);
        }
      } finally {
        await store.close();
      }
      const issued = asUsage(() => identity.credentials.issueAgent(request));
      io.out(values.json ? JSON.stringify(issued, null, 2) : issued.token);
      return 0;
    }
    if (values.operator !== undefined) {
      const ttl = parseDuration(values.ttl ?? '8h');
      if (!ttl.ok) throw new UsageError(`--ttl: ${ttl.issues.map((i) => i.message).join('; ')}`);
      const groups = (values.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean);
      const operator = values.operator;
      const issued = asUsage(() => identity.issuers.operator.issue({ operator, groups, ttlSeconds: ttl.value }));
      io.out(values.json ? JSON.stringify({ token: issued.token, expiresAt: new Date(issued.claims.exp * 1000).toISOString(), claims: issued.claims }, null, 2) : issued.token);
      return 0;
    }
    throw new UsageError('give --agent ID --role ROLE, or --operator NAME --groups G1,G2');
  },
};
