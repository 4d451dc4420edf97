import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createAuditLog, type AuditLog } from './audit/audit-log.js';
import { ensureLogKeys } from './audit/log-keys.js';
import { nodeAuditCrypto } from './audit/node-crypto.js';
import { createWitnessClient } from './audit/witness-client.js';
import { ensureKeys, loadKeyring, type Keyring } from './config/keyring.js';
import { createPolicyHolder, sha256Hex, type PolicyHolder } from './config/policy-file.js';
import { GovernorError } from './core/errors.js';
import type { Principal } from './core/types.js';
import { createDecisionService, type DecisionService } from './decisions/decision-service.js';
import { createActionAnalyzers } from './analyzers/action-analyzers.js';
import { loadSqlParser } from './analyzers/pg-parser.js';
import { ApprovalEvents } from './approvals/approval-events.js';
import { createApprovalService, type ApprovalService } from './approvals/approval-service.js';
import { createBreakGlassService, type BreakGlassService } from './approvals/break-glass.js';
import { createToolPins } from './control/tool-pins.js';
import { runSandboxed } from './sandbox/run-sandboxed.js';
import { Metrics } from './server/metrics.js';
import { createAgentRegistry, type AgentRegistry } from './control/agents.js';
import { createBreakers } from './control/breakers.js';
import { createControls } from './control/controls.js';
import { createGrants, type Grants } from './control/grants.js';
import { createKillSwitch, type Kill, type KillSwitch } from './control/kill-switch.js';
import { createOidcVerifier, type OidcOptions, type OidcVerifier } from './identity/oidc-verifier.js';
import { combineNotifiers, type Notifier } from './notify/notifier.js';
import { createWebhookNotifier, type WebhookFormat } from './notify/webhook-notifier.js';
import { AGENT_AUDIENCE, OPERATOR_AUDIENCE } from './identity/claims.js';
import { assertDistinctKeys } from './identity/keys.js';
import { parseDuration } from './identity/parse-duration.js';
import { principalFromClaims } from './identity/principal.js';
import { createTokenIssuer, type TokenIssuer } from './identity/token-issuer.js';
import { createTokenVerifier } from './identity/token-verifier.js';
import type { Authenticator, CredentialIssuer } from './server/authenticator.js';
import { createServer } from './server/create-server.js';
import { createPostgresStore } from './store/postgres/index.js';
import { createSqliteStore } from './store/sqlite/index.js';
import type { Store } from './store/store.js';

/** The `iss` of every credential this deployment mints. */
export const ISSUER = 'governor';
/** Default agent credential lifetime. */
export const DEFAULT_AGENT_TTL = '15m';

/** How to run Governor: the CLI fills this from flags and the environment. */
export interface GovernorOptions {
  readonly policyPath: string;
  /** Keys and the SQLite database live here. Default: `.governor` beside the policy file. */
  readonly dataDir?: string;
  /** A PostgreSQL URL selects the PostgreSQL store; otherwise SQLite in the data dir. */
  readonly databaseUrl?: string;
  /** Watch the policy files and reload them on change. */
  readonly watch?: boolean;
  readonly logger?: boolean | { level: string };
  readonly clock?: () => number;
  /** The audit log's origin for a new log (default `governor/<policy name>`); an existing log keeps its key's. */
  readonly auditOrigin?: string;
  /** Checkpoint signing cadence. */
  readonly checkpoint?: { readonly intervalMs?: number; readonly maxLeaves?: number };
  /**
   * Witnesses (`governor witness` or any C2SP tlog-witness) asked to cosign
   * every checkpoint: the submission URL and the witness's cosignature
   * verifier key (type 0x04).
   */
  readonly witnesses?: readonly { readonly url: string; readonly vkey: string }[];
  /** Publish a checkpoint only once this many witnesses cosigned it. Default 0. */
  readonly witnessesRequired?: number;
  /** Time limit of each witness request, ms. Default 5000. */
  readonly witnessTimeoutMs?: number;
  /** Webhooks told of held actions, resolutions and break-glass overrides (HMAC-signed). */
  readonly webhooks?: readonly { readonly url: string; readonly secret: string; readonly format?: WebhookFormat }[];
  /** Operators may also sign in with this OIDC provider's tokens. */
  readonly oidc?: Omit<OidcOptions, 'clock'>;
  /** Where operators reach this Governor, for links in notifications. */
  readonly publicUrl?: string;
  /** How often held actions and break-glass sessions are re-read from the store, ms (default 5000 and 2000). */
  readonly sweepIntervalMs?: number;
}

/** A wired Governor: the HTTP app and what it is made of. */
export interface Governor {
  readonly app: FastifyInstance;
  readonly policy: PolicyHolder;
  readonly store: Store;
  readonly decisions: DecisionService;
  readonly approvals: ApprovalService;
  readonly breakGlass: BreakGlassService;
  readonly events: ApprovalEvents;
  readonly notifier: Notifier;
  readonly killSwitch: KillSwitch;
  readonly agents: AgentRegistry;
  readonly grants: Grants;
  readonly audit: AuditLog;
  /** The log's public verifier keys (`name+hash+base64`), one per signing key. */
  readonly auditKeys: readonly string[];
  readonly issuers: { readonly agent: TokenIssuer<typeof AGENT_AUDIENCE>; readonly operator: TokenIssuer<typeof OPERATOR_AUDIENCE> };
  readonly dataDir: string;
  close(): Promise<void>;
}

/** The default data directory of a policy file. */
export function defaultDataDir(policyPath: string): string {
  return join(dirname(resolve(policyPath)), '.governor');
}

/** Opens the store the options select. */
export async function openStore(options: { dataDir: string; databaseUrl?: string | undefined }): Promise<Store> {
  if (options.databaseUrl) return createPostgresStore({ connectionString: options.databaseUrl });
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  return createSqliteStore({ path: join(options.dataDir, 'governor.db') });
}

/** Creates the credential issuers and verifiers of a keyring; operators may also come from a trusted OIDC provider; kills revoke agent credentials. */
export function createIdentity(keys: Keyring, clock: () => number, oidc?: OidcVerifier, killSwitch?: KillSwitch) {
  assertDistinctKeys([keys.agentIssuer.publicKey], [keys.operatorIssuer.publicKey]);
  const issuers = {
    agent: createTokenIssuer({ privateKey: keys.agentIssuer.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock }),
    operator: createTokenIssuer({ privateKey: keys.operatorIssuer.privateKey, issuer: ISSUER, audience: OPERATOR_AUDIENCE, clock }),
  };
  const agentVerifier = createTokenVerifier({ publicKeys: [keys.agentIssuer.publicKey], issuer: ISSUER, audience: AGENT_AUDIENCE, clock });
  const operatorVerifier = createTokenVerifier({ publicKeys: [keys.operatorIssuer.publicKey], issuer: ISSUER, audience: OPERATOR_AUDIENCE, clock });
  const auth: Authenticator = {
    agent(token, options) {
      const r = agentVerifier.verify(token);
      if (!r.ok) return r;
      const principal = principalFromClaims(r.value);
      const kill = killSwitch?.revoked(principal, r.value.iat * 1000);
      if (kill && !(options?.whileKilled && kill.state === 'active')) {
        return { ok: false, issues: [{ path: 'token', message: `revoked by kill ${kill.id} (${kill.reason}); ask an operator for a new credential${kill.state === 'active' ? ' once the kill is lifted' : ''}` }] };
      }
      return { ok: true, value: principal };
    },
    operator(token) {
      // Routed by the token's (unverified) issuer; the chosen verifier checks everything.
      if (oidc?.claims(token)) return oidc.verify(token);
      const r = operatorVerifier.verify(token);
      return r.ok ? { ok: true, value: { name: r.value.sub, groups: r.value.groups } } : r;
    },
  };
  const credentials: CredentialIssuer = {
    issueAgent(request) {
      const ttl = parseDuration(request.ttl ?? DEFAULT_AGENT_TTL);
      if (!ttl.ok) throw new GovernorError('BAD_REQUEST', `ttl: ${ttl.issues.map((i) => i.message).join('; ')}`);
      const issued = issuers.agent.issue({
        agent: request.agent,
        role: request.role,
        ttlSeconds: ttl.value,
        ...(request.task ? { task: request.task } : {}),
        ...(request.instance ? { instance: request.instance } : {}),
        ...(request.session ? { session: request.session } : {}),
      });
      const principal: Principal = principalFromClaims(issued.claims);
      return { token: issued.token, expiresAt: new Date(issued.claims.exp * 1000).toISOString(), principal };
    },
  };
  return { issuers, auth, credentials };
}

/**
 * Wires Governor from its options: policy (validated, watched), keys (created
 * on first run), store, decision service and HTTP app. The only place that
 * picks adapters.
 */
export async function createGovernor(options: GovernorOptions): Promise<Governor> {
  const clock = options.clock ?? Date.now;
  const dataDir = resolve(options.dataDir ?? defaultDataDir(options.policyPath));
  // Bad witness keys fail before anything is opened.
  const witnesses = (options.witnesses ?? []).map((w) =>
    createWitnessClient({ crypto: nodeAuditCrypto, url: w.url, vkey: w.vkey, ...(options.witnessTimeoutMs === undefined ? {} : { timeoutMs: options.witnessTimeoutMs }) }),
  );
  const witnessesRequired = options.witnessesRequired ?? 0;
  if (!Number.isInteger(witnessesRequired) || witnessesRequired < 0 || witnessesRequired > witnesses.length) {
    throw new GovernorError('CONFIG_INVALID', `witnessesRequired must be an integer from 0 to the number of witnesses (${witnesses.length}), got ${witnessesRequired}`);
  }
  // The server's logger once it exists; standard error before that (an early policy reload).
  let server: FastifyInstance | undefined;
  const log = (level: 'info' | 'warn' | 'error', message: string, detail?: object) =>
    server ? server.log[level]({ ...detail }, message) : process.stderr.write(`${level}: ${message}\n`);

  const policy = await createPolicyHolder(options.policyPath, {
    watch: options.watch ?? false,
    clock,
    onReload: (event) =>
      event.ok ? log('info', `policy reloaded, digest ${event.digest}`) : log('error', `policy change rejected, keeping digest ${event.digest}:\n${event.message}`),
  });
  await ensureKeys(dataDir);
  const keys = await loadKeyring(dataDir);
  const store = await openStore({ dataDir, databaseUrl: options.databaseUrl });
  const oidc = options.oidc ? createOidcVerifier({ ...options.oidc, clock }) : undefined;
  const killSwitch = createKillSwitch({
    store,
    clock,
    crypto: nodeAuditCrypto,
    audit: { appended: (n) => audit.appended(n) },
    newId: randomUUID,
    settings: () => policy.current().spec.killSwitch,
    onFault: (err, context) => log('error', `fault in ${context}`, { err }),
  });
  const identity = createIdentity(keys, clock, oidc, killSwitch);
  const logKeys = await ensureLogKeys(dataDir, options.auditOrigin ?? `governor/${policy.current().spec.name}`);
  const audit = createAuditLog({
    repository: store.audit,
    crypto: nodeAuditCrypto,
    origin: logKeys[0]?.signer.name ?? 'governor',
    signers: logKeys.map((k) => k.signer),
    ...(options.checkpoint?.intervalMs === undefined ? {} : { intervalMs: options.checkpoint.intervalMs }),
    ...(options.checkpoint?.maxLeaves === undefined ? {} : { maxLeaves: options.checkpoint.maxLeaves }),
    witnesses,
    witnessesRequired,
    onError: (err) => log('error', 'checkpoint signing failed', { err }),
  });
  audit.start();
  const notifier = combineNotifiers(
    (options.webhooks ?? []).map((w) =>
      createWebhookNotifier({
        url: w.url,
        secret: w.secret,
        ...(w.format ? { format: w.format } : {}),
        log: (level, message, detail) => log(level, `notifier: ${message}`, detail),
      }),
    ),
  );
  const events = new ApprovalEvents();
  const sweep = options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs };
  const approvals = createApprovalService({
    store,
    clock,
    crypto: nodeAuditCrypto,
    audit,
    policy: () => policy.current(),
    sha256Hex,
    events,
    notifier,
    ...sweep,
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    onFault: (err, context) => log('error', `fault in ${context}`, { err }),
  });
  const breakGlass = createBreakGlassService({
    store,
    clock,
    crypto: nodeAuditCrypto,
    audit,
    spec: () => policy.current().spec.breakGlass,
    newId: randomUUID,
    events,
    notifier,
    ...(options.sweepIntervalMs === undefined ? {} : { refreshIntervalMs: options.sweepIntervalMs }),
    onFault: (err, context) => log('error', `fault in ${context}`, { err }),
  });
  await approvals.start();
  await breakGlass.start();
  const agents = createAgentRegistry({ store, clock, crypto: nodeAuditCrypto, audit, trust: () => policy.current().spec.trust, ...(options.sweepIntervalMs === undefined ? {} : { refreshMs: options.sweepIntervalMs }), onFault: (err, context) => log('error', `fault in ${context}`, { err }) });
  const grants = createGrants({ store, clock, crypto: nodeAuditCrypto, audit, newId: randomUUID });
  const breakers = createBreakers({
    spec: () => policy.current().spec.breakers,
    clock,
    locked: (agent) => killSwitch.touching({ agent, instance: '', role: '', session: '' }) !== undefined,
    trip: (agent, reason) => {
      log('warn', `circuit breaker tripped for agent ${agent}: ${reason}`);
      killSwitch.kill({ name: `breaker:${agent}`, source: 'breaker' }, { scope: { kind: 'agent', value: agent }, reason }).catch((err: unknown) => log('error', 'locking a tripped agent', { err }));
      agents.demote(`breaker:${agent}`, agent, reason).catch((err: unknown) => log('error', 'demoting a tripped agent', { err }));
    },
  });
  // What a kill does beyond denying: held actions in scope are cancelled, grants in scope revoked.
  killSwitch.subscribe((kill: Kill) => {
    approvals.cancel((d) => killSwitch.check(d.principal, d.action)?.rule === `kill/${kill.id}`, `cancelled by kill ${kill.id}: ${kill.reason}`, kill.by).catch((err: unknown) => log('error', 'cancelling held actions of a kill', { err }));
    grants.revokeWhere((g) => kill.scope.kind === 'global' || (kill.scope.kind === 'agent' && g.agent === kill.scope.value) || (kill.scope.kind === 'environment' && g.scope.environments.includes(kill.scope.value)) || (kill.scope.kind === 'tool' && g.scope.tools.includes(kill.scope.value)), `kill ${kill.id}`, `revoked by kill ${kill.id}: ${kill.reason}`).catch((err: unknown) => log('error', 'revoking grants of a kill', { err }));
  });
  await killSwitch.start();
  await agents.start();
  const baseControls = createControls({ killSwitch, agents, grants, breakers, trust: () => policy.current().spec.trust });
  const metrics = new Metrics();
  const controls: typeof baseControls = {
    ...baseControls,
    decided(decision, requestDigest) {
      metrics.inc('governor_decisions_total', 'Decisions recorded, by verdict.', { verdict: decision.verdict });
      for (const r of decision.reasons) if (r.effect === 'deny' && r.code) metrics.inc('governor_denials_total', 'Deny reasons recorded, by code.', { code: r.code });
      baseControls.decided(decision, requestDigest);
    },
  };
  metrics.onScrape(() => {
    metrics.set('governor_breaker_trips_total', 'Circuit-breaker trips since start.', breakers.trips());
    const kills = killSwitch.freshness();
    metrics.set('governor_kill_state_age_seconds', 'Time since kill-switch state was last confirmed from the store.', (clock() - kills.confirmedAt) / 1000);
    const n = notifier.stats();
    metrics.set('governor_notifications_delivered_total', 'Notifications delivered.', n.delivered);
    metrics.set('governor_notifications_failed_total', 'Notifications given up on.', n.failed);
    metrics.set('governor_notifications_dropped_total', 'Notifications dropped (queue full).', n.dropped);
    metrics.set('governor_approval_streams', 'Open approval event streams and long-polls.', events.size);
  });
  killSwitch.subscribe((kill) => metrics.inc('governor_kills_total', 'Kills, by source (operator or breaker).', { source: kill.source }));
  // SQL, rows and drift are analyzed before each decision; EXPLAIN connections come from the environment.
  // The first SQL decision should not pay for loading the parser's WebAssembly: start it now (a failure shows on that decision).
  void loadSqlParser().catch(() => undefined);
  const analyzers = createActionAnalyzers({ dataDir, policyDir: dirname(resolve(options.policyPath)), env: process.env });
  const decisions = createDecisionService({
    policy: () => policy.current(),
    store,
    clock,
    newId: randomUUID,
    sha256Hex,
    audit: { crypto: nodeAuditCrypto, log: audit },
    onFault: (err, context) => log('error', `fault in ${context}, denied`, { err }),
    onHeld: (decision) => approvals.held(decision),
    breakGlass,
    controls,
    analyzers,
  });
  const toolPins = createToolPins({ store, clock, crypto: nodeAuditCrypto, audit, sha256Hex });
  const app = (server = createServer({
    decisions,
    toolPins,
    killSwitch,
    agents,
    grants,
    breakers,
    metrics,
    // The data dir (keys, database) is hidden inside the sandbox wherever it lives.
    sandbox: (request) => runSandboxed(request, { hidePaths: [dataDir] }),
    policy: () => policy.current(),
    approvals,
    breakGlass,
    events,
    audit,
    auth: identity.auth,
    credentials: identity.credentials,
    logger: options.logger ?? false,
    health: async () => {
      const storeOk = await store.ping().then(
        () => true,
        () => false,
      );
      const kills = killSwitch.freshness();
      return { ok: storeOk, store: { engine: store.engine, ok: storeOk }, policy: policy.status(), killSwitch: { ...kills, confirmedAt: new Date(kills.confirmedAt).toISOString() }, notifications: notifier.stats() };
    },
  }));

  let closed = false;
  return {
    app,
    policy,
    store,
    decisions,
    approvals,
    breakGlass,
    events,
    notifier,
    killSwitch,
    agents,
    grants,
    audit,
    auditKeys: logKeys.map((k) => k.vkey),
    issuers: identity.issuers,
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      policy.close();
      approvals.stop();
      breakGlass.stop();
      killSwitch.stop();
      agents.stop();
      await app.close();
      await notifier.close();
      await audit.stop();
      await analyzers.close();
      await store.close();
    },
  };
}
