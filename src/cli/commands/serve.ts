import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseWitnessSpec } from '../../audit/witness-client.js';
import { createGovernor } from '../../main.js';
import { configFlag, parseFlags, UsageError, type Command } from '../args.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the decision API',
  help: `Usage: governor serve [--config FILE] [--port N] [--host ADDR] [--data-dir DIR] [--database-url URL] [--no-watch]
                      [--witness VKEY@URL ...] [--witnesses-required K]
                      [--notify-webhook URL --notify-secret-file FILE [--notify-format json|slack]]
                      [--oidc-issuer URL --oidc-audience AUD [--oidc-jwks-uri URL] [--oidc-groups-claim C]
                       [--oidc-username-claim C] [--oidc-group-map IDP=GOV,...]] [--public-url URL]

Serves the HTTP API (/v1/decisions, /healthz, ...) with the policy in FILE
(default governor.yaml), reloading it when it changes: a change that fails
validation is rejected and the last good policy stays in force.

  --port N            port to listen on (default 8080, or GOVERNOR_PORT)
  --host ADDR         address to bind (default 127.0.0.1, or GOVERNOR_HOST)
  --data-dir DIR      keys and the SQLite database (default .governor beside FILE)
  --database-url URL  use PostgreSQL instead of SQLite (or GOVERNOR_DATABASE_URL)
  --no-watch          do not reload the policy when its files change
  --witness VKEY@URL  a witness (governor witness, or any C2SP tlog-witness) to
                      push every checkpoint to; VKEY is its cosignature key
                      (type 0x04), URL its submission prefix. Repeatable, or
                      GOVERNOR_WITNESSES (comma-separated)
  --witnesses-required K
                      publish a checkpoint only once K witnesses cosigned it
                      (default 0, or GOVERNOR_WITNESSES_REQUIRED)
  --notify-webhook URL
                      POST held actions, resolutions and break-glass events to
                      URL, HMAC-signed (X-Governor-Signature), retried with
                      backoff, never blocking a decision (or GOVERNOR_NOTIFY_WEBHOOK)
  --notify-secret-file FILE
                      the HMAC secret, at least 16 bytes; the file must not be
                      readable by group or others (or GOVERNOR_NOTIFY_SECRET)
  --notify-format F   json (default) or slack (an incoming-webhook payload)
  --oidc-issuer URL   also accept operator tokens from this OIDC provider
                      (JWT checked against its JWKS); see docs/operators.md
  --oidc-audience AUD the audience those tokens must carry (required with --oidc-issuer)
  --oidc-jwks-uri URL the key set (default: from the issuer's discovery document)
  --oidc-groups-claim C    claim holding the groups (default groups)
  --oidc-username-claim C  claim naming the person (default sub); names get the prefix oidc:
  --oidc-group-map M  IDP=GOV pairs, comma-separated: only mapped groups are kept
  --public-url URL    where operators reach this server, for links in notifications`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      ...configFlag,
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'no-watch': { type: 'boolean', default: false },
      witness: { type: 'string', multiple: true },
      'witnesses-required': { type: 'string' },
      'notify-webhook': { type: 'string' },
      'notify-secret-file': { type: 'string' },
      'notify-format': { type: 'string' },
      'oidc-issuer': { type: 'string' },
      'oidc-audience': { type: 'string' },
      'oidc-jwks-uri': { type: 'string' },
      'oidc-groups-claim': { type: 'string' },
      'oidc-username-claim': { type: 'string' },
      'oidc-group-map': { type: 'string' },
      'public-url': { type: 'string' },
    });
    const port = Number(values.port ?? io.env.GOVERNOR_PORT ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer in 0..65535, got "${values.port}"`);
    const host = values.host ?? io.env.GOVERNOR_HOST ?? '127.0.0.1';
    const databaseUrl = values['database-url'] ?? io.env.GOVERNOR_DATABASE_URL;
    const witnessSpecs = values.witness ?? (io.env.GOVERNOR_WITNESSES ?? '').split(',').map((w) => w.trim()).filter((w) => w.length > 0);
    const witnesses = witnessSpecs.map((spec) => parseWitnessSpec(spec));
    const requiredText = values['witnesses-required'] ?? io.env.GOVERNOR_WITNESSES_REQUIRED ?? '0';
    const witnessesRequired = /^[0-9]{1,3}$/.test(requiredText) ? Number(requiredText) : NaN;
    if (!(witnessesRequired <= witnesses.length)) {
      throw new UsageError(`--witnesses-required must be an integer from 0 to the number of --witness flags (${witnesses.length}), got "${requiredText}"`);
    }
    const webhook = values['notify-webhook'] ?? io.env.GOVERNOR_NOTIFY_WEBHOOK;
    const format = values['notify-format'] ?? 'json';
    if (format !== 'json' && format !== 'slack') throw new UsageError(`--notify-format must be json or slack, got "${format}"`);
    let secret: string | undefined;
    if (webhook !== undefined) {
      const secretFile = values['notify-secret-file'];
      if (secretFile !== undefined) {
        const path = resolve(io.cwd, secretFile);
        if (((await stat(path)).mode & 0o077) !== 0) throw new UsageError(`${secretFile} is readable by group or others: chmod 600 it`);
        secret = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
      } else secret = io.env.GOVERNOR_NOTIFY_SECRET;
      if (!secret) throw new UsageError('--notify-webhook needs --notify-secret-file FILE (or GOVERNOR_NOTIFY_SECRET)');
    }
    const issuer = values['oidc-issuer'];
    const audience = values['oidc-audience'];
    if ((issuer === undefined) !== (audience === undefined)) throw new UsageError('--oidc-issuer and --oidc-audience go together');
    let groupMap: Record<string, string> | undefined;
    if (values['oidc-group-map'] !== undefined) {
      groupMap = {};
      for (const pair of values['oidc-group-map'].split(',').map((p) => p.trim()).filter(Boolean)) {
        const [from, to, extra] = pair.split('=');
        if (!from || !to || extra !== undefined) throw new UsageError(`--oidc-group-map expects IDP=GOV pairs, got "${pair}"`);
        groupMap[from] = to;
      }
    }
    const governor = await createGovernor({
      ...(webhook !== undefined && secret !== undefined ? { webhooks: [{ url: webhook, secret, format }] } : {}),
      ...(issuer !== undefined && audience !== undefined
        ? {
            oidc: {
              issuer,
              audience,
              ...(values['oidc-jwks-uri'] ? { jwksUri: values['oidc-jwks-uri'] } : {}),
              ...(values['oidc-groups-claim'] ? { groupsClaim: values['oidc-groups-claim'] } : {}),
              ...(values['oidc-username-claim'] ? { usernameClaim: values['oidc-username-claim'] } : {}),
              ...(groupMap ? { groupMap } : {}),
            },
          }
        : {}),
      ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
      policyPath: resolve(io.cwd, values.config),
      ...(values['data-dir'] ? { dataDir: resolve(io.cwd, values['data-dir']) } : {}),
      ...(databaseUrl ? { databaseUrl } : {}),
      watch: !values['no-watch'],
      witnesses,
      witnessesRequired,
      logger: { level: io.env.GOVERNOR_LOG_LEVEL ?? 'info' },
    });
    const address = await governor.app.listen({ port, host });
    const status = governor.policy.status();
    io.err(`governor listening on ${address}`);
    io.err(`policy ${status.files.join(', ')} digest ${status.digest}`);
    io.err(`store ${governor.store.engine}, data dir ${governor.dataDir}`);
    io.err(`audit log ${governor.audit.origin}, verifier key${governor.auditKeys.length > 1 ? 's' : ''}: ${governor.auditKeys.join(' ')}`);
    if (witnesses.length > 0) {
      io.err(`witnesses ${witnesses.map((w) => w.url).join(', ')}; a checkpoint is published with ${witnessesRequired} or more cosignatures`);
    }
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        io.err('shutting down');
        governor.close().then(done, (err: unknown) => {
          io.err(`error while closing: ${(err as Error).message}`);
          done();
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  },
};
