#!/usr/bin/env node
// A demo infrastructure MCP server (stdio) for trying Governor's MCP proxy:
//
//   GOVERNOR_AGENT_TOKEN=… governor mcp wrap --environment prod --server-name infra -- node examples/infra-mcp-server/server.mjs
//
// Services live in memory (the example inventory's prod shop: checkout 12
// replicas, payments 20, search 20); run_sql runs against the real PostgreSQL
// named by DATABASE_URL. Tool names and parameters follow the tool catalog of
// examples/governor.yaml (targets in `service` / `database`), and the
// annotations are honest: only read_logs is read-only, only run_sql may
// destroy something that cannot be brought back.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const MAX_ROWS = 100;

/** @type {Map<string, { replicas: number, traffic: number, version: string, previous: string | undefined, log: string[] }>} */
const services = new Map([
  ['checkout', { replicas: 12, traffic: 0.45, version: '1.4.1', previous: undefined, log: [] }],
  ['payments', { replicas: 20, traffic: 0.25, version: '2.7.0', previous: undefined, log: [] }],
  ['search', { replicas: 20, traffic: 0.3, version: '0.9.3', previous: undefined, log: [] }],
]);

const text = (t) => ({ content: [{ type: 'text', text: t }] });
const failure = (t) => ({ content: [{ type: 'text', text: t }], isError: true });
const pct = (x) => `${Math.round(x * 1000) / 10}%`;

function record(name, s, line) {
  s.log.push(`${new Date().toISOString()} ${name}: ${line}`);
  if (s.log.length > 200) s.log.shift();
}

/** Runs `fn` on the named service, or answers that it does not exist. */
function onService(name, fn) {
  const s = services.get(name);
  if (!s) return failure(`unknown service "${name}"; known: ${[...services.keys()].join(', ')}`);
  return fn(s);
}

const server = new McpServer({ name: 'infra-demo', version: '0.1.0' });

server.registerTool(
  'restart_service',
  {
    title: 'Restart a service',
    description: 'Restarts replicas of a service: a fraction of them, a count, or (with neither) all of them. Restarted replicas come back on the same version.',
    inputSchema: {
      service: z.string().min(1).describe('the service, e.g. payments'),
      fraction: z.number().gt(0).lte(1).optional().describe('share of the replicas to restart, in (0, 1]'),
      count: z.number().int().min(1).optional().describe('number of replicas to restart'),
    },
    // Restarting loses nothing that is not brought back: not destructive, not read-only.
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async ({ service, fraction, count }) =>
    onService(service, (s) => {
      const n = Math.min(s.replicas, count ?? (fraction === undefined ? s.replicas : Math.ceil(fraction * s.replicas)));
      record(service, s, `restarted ${n} replica(s)`);
      return text(`Restarted ${n} of ${s.replicas} replicas of ${service} (${pct(n / s.replicas)} of its replicas, ${pct((s.traffic * n) / s.replicas)} of traffic).`);
    }),
);

server.registerTool(
  'scale_service',
  {
    title: 'Scale a service',
    description: 'Sets the number of replicas of a service. Scaling back restores the previous capacity.',
    inputSchema: {
      service: z.string().min(1).describe('the service'),
      replicas: z.number().int().min(0).max(1000).describe('the new number of replicas'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ service, replicas }) =>
    onService(service, (s) => {
      const before = s.replicas;
      s.replicas = replicas;
      record(service, s, `scaled from ${before} to ${replicas} replicas`);
      return text(`Scaled ${service} from ${before} to ${replicas} replicas.`);
    }),
);

server.registerTool(
  'deploy',
  {
    title: 'Deploy a version',
    description: 'Deploys a version of a service to all of its replicas. The previous version is kept for rollback.',
    inputSchema: {
      service: z.string().min(1).describe('the service'),
      version: z.string().min(1).max(64).describe('the version to deploy, e.g. 1.4.2'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  async ({ service, version }) =>
    onService(service, (s) => {
      if (s.version === version) return text(`${service} already runs ${version}.`);
      s.previous = s.version;
      s.version = version;
      record(service, s, `deployed ${version} (was ${s.previous})`);
      return text(`Deployed ${service} ${version} to ${s.replicas} replicas (previous version ${s.previous}, available for rollback).`);
    }),
);

server.registerTool(
  'rollback',
  {
    title: 'Roll back a deploy',
    description: 'Returns a service to the version it ran before its last deploy.',
    inputSchema: { service: z.string().min(1).describe('the service') },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  },
  async ({ service }) =>
    onService(service, (s) => {
      if (s.previous === undefined) return failure(`${service} has no previous version to roll back to`);
      const from = s.version;
      s.version = s.previous;
      s.previous = undefined;
      record(service, s, `rolled back from ${from} to ${s.version}`);
      return text(`Rolled ${service} back from ${from} to ${s.version}.`);
    }),
);

server.registerTool(
  'read_logs',
  {
    title: 'Read service logs',
    description: 'Returns the most recent log lines of a service.',
    inputSchema: {
      service: z.string().min(1).describe('the service'),
      lines: z.number().int().min(1).max(200).optional().describe('how many lines (default 20)'),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  async ({ service, lines }) =>
    onService(service, (s) => {
      const tail = s.log.slice(-(lines ?? 20));
      const head = `${service}: version ${s.version}, ${s.replicas} replicas, ${pct(s.traffic)} of traffic`;
      return text([head, ...(tail.length > 0 ? tail : ['(no events yet)'])].join('\n'));
    }),
);

server.registerTool(
  'run_sql',
  {
    title: 'Run SQL',
    description: `Runs one SQL statement on a PostgreSQL database and returns up to ${MAX_ROWS} rows.`,
    inputSchema: {
      database: z.string().min(1).describe('the database, e.g. orders-db'),
      sql: z.string().min(1).max(65536).describe('one SQL statement'),
    },
    // SQL can delete or overwrite data for good.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  },
  async ({ database, sql }) => {
    const url = process.env.DATABASE_URL;
    if (!url) return failure(`run_sql needs a PostgreSQL database: DATABASE_URL is not set for this server (asked for ${database})`);
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url, statement_timeout: 30_000, connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
      const result = await client.query(sql);
      const rows = Array.isArray(result.rows) ? result.rows.slice(0, MAX_ROWS) : [];
      const summary = `${result.command ?? 'statement'} on ${database}: ${result.rowCount ?? 0} row(s)${rows.length < (result.rows?.length ?? 0) ? `, first ${MAX_ROWS} shown` : ''}`;
      return { content: [{ type: 'text', text: `${summary}\n${JSON.stringify(rows)}` }] };
    } catch (err) {
      return failure(`run_sql on ${database} failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await client.end().catch(() => {});
    }
  },
);

await server.connect(new StdioServerTransport());
process.stderr.write('infra-demo MCP server ready on stdio\n');
