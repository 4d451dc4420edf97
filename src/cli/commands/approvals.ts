import type { ApprovalView, VoteView } from '../../approvals/approval-service.js';
import type { BreakGlassSession } from '../../approvals/break-glass.js';
import type { Decision } from '../../core/types.js';
import { apiClient, SERVER_FLAGS_HELP, serverFlags } from '../api-client.js';
import { parseFlags, UsageError, type Command } from '../args.js';

const STATES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'];

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: 'list held actions waiting for humans',
  help: `Usage: governor approvals [--state pending|approved|rejected|expired|cancelled] [--url URL] [--token TOKEN] [--json]

Lists held actions (oldest first) with what they would do, why they are held,
who has voted and what is still missing.

  --state STATE     which held actions (default pending)
${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...serverFlags, state: { type: 'string', default: 'pending' } });
    if (!STATES.includes(values.state)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
    const { approvals } = await apiClient(values, io).call<{ approvals: ApprovalView[] }>('GET', `/v1/approvals?state=${values.state}&limit=1000`);
    if (values.json) {
      io.out(JSON.stringify(approvals, null, 2));
      return 0;
    }
    if (approvals.length === 0) {
      io.out(`no ${values.state} actions`);
      return 0;
    }
    for (const a of approvals) io.out(describeApproval(a));
    return 0;
  },
};

function voteCommand(kind: 'approve' | 'deny'): Command {
  const approve = kind === 'approve';
  return {
    name: kind,
    summary: approve ? 'approve a held action' : 'deny (or veto) a held action',
    help: `Usage: governor ${kind} ID --reason TEXT${approve ? ' [--acknowledge-irreversible]' : ''} [--url URL] [--token TOKEN] [--json]

${approve ? 'Approves' : 'Denies'} held action ID as the operator of the credential. The vote is bound to
the action and policy digests shown by 'governor approvals': it cannot count for
another or a modified action. One vote per person; the requesting agent never votes.
${approve ? '\nAn irreversible action needs --acknowledge-irreversible: you state that it\ncannot be undone.\n' : '\nOn a medium-risk action this is a veto; on a high-risk one it counts toward\nthe deny threshold (by default one denial rejects).\n'}
  --reason TEXT     why (required; recorded in the audit log)
${approve ? '  --acknowledge-irreversible\n                    confirm that the action cannot be undone\n' : ''}${SERVER_FLAGS_HELP}`,
    async run(argv, io) {
      const { values, positionals } = parseFlags(argv, { ...serverFlags, reason: { type: 'string' }, 'acknowledge-irreversible': { type: 'boolean', default: false } }, 1);
      const id = positionals[0];
      if (!id) throw new UsageError('missing the ID of the held action (see governor approvals)');
      if (!values.reason?.trim()) throw new UsageError('--reason is required');
      if (!approve && values['acknowledge-irreversible']) throw new UsageError('--acknowledge-irreversible goes with approve');
      const api = apiClient(values, io);
      const held = await api.call<ApprovalView>('GET', `/v1/approvals/${encodeURIComponent(id)}`);
      const approval = held.decision.approval;
      if (held.decision.state !== 'pending') throw new UsageError(`decision ${id} is ${held.decision.state}, not pending`);
      io.err(describeApproval(held));
      if (approve && approval?.irreversible && !values['acknowledge-irreversible']) {
        throw new UsageError(`decision ${id} is irreversible: approve it with --acknowledge-irreversible to state that it cannot be undone`);
      }
      const result = await api.call<{ decision: Decision; vote: VoteView; tally: ApprovalView['tally'] }>('POST', `/v1/approvals/${encodeURIComponent(id)}/votes`, {
        vote: kind,
        reason: values.reason,
        actionDigest: approval?.actionDigest,
        policyDigest: held.decision.policy.digest,
        ...(values['acknowledge-irreversible'] ? { acknowledgeIrreversible: true } : {}),
      });
      if (values.json) io.out(JSON.stringify(result, null, 2));
      else if (result.decision.state === 'pending') io.out(`vote recorded; still pending: ${result.tally.missing.join('; ')}`);
      else io.out(`decision ${id} is now ${result.decision.state} (${result.decision.verdict}): ${result.decision.resolution?.reason ?? ''}`);
      return 0;
    },
  };
}

export const approveCommand = voteCommand('approve');
export const denyCommand = voteCommand('deny');

export const breakGlassCommand: Command = {
  name: 'break-glass',
  summary: 'open, list or close a time-limited override',
  help: `Usage: governor break-glass --scope KEY=VALUE,... --ttl DURATION --reason TEXT
       governor break-glass --list [--state open|closed|expired]
       governor break-glass --close ID --reason TEXT
       (each with [--url URL] [--token TOKEN] [--json])

Opens a break-glass override: actions in scope are allowed while it lasts
(the kill switch still wins), each flagged in the audit log and notified. It
ends by itself after the TTL (capped by the policy's breakGlass.maxTtl) or when
closed. Only operators in a breakGlass group may open one.

  --scope S         environment=, agent=, tool=, target= pairs, comma-separated (at least one)
  --ttl DURATION    how long: 90s, 15m, 1h
  --reason TEXT     why (required; recorded and notified)
  --list            list sessions    --state STATE  only these
  --close ID        close session ID early
${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      ...serverFlags,
      scope: { type: 'string' },
      ttl: { type: 'string' },
      reason: { type: 'string' },
      list: { type: 'boolean', default: false },
      state: { type: 'string' },
      close: { type: 'string' },
    });
    const api = apiClient(values, io);
    const print = (s: BreakGlassSession) =>
      io.out(values.json ? JSON.stringify(s, null, 2) : `${s.id}  ${s.state}  by ${s.by}  until ${s.expiresAt}  scope ${Object.entries(s.scope).map(([k, v]) => `${k}=${v}`).join(',')}  "${s.reason}"`);
    if (values.list) {
      const { sessions } = await api.call<{ sessions: BreakGlassSession[] }>('GET', `/v1/break-glass${values.state ? `?state=${encodeURIComponent(values.state)}` : ''}`);
      if (sessions.length === 0 && !values.json) io.out('no break-glass sessions');
      if (values.json) io.out(JSON.stringify(sessions, null, 2));
      else sessions.forEach(print);
      return 0;
    }
    if (!values.reason?.trim()) throw new UsageError('--reason is required');
    if (values.close !== undefined) {
      print(await api.call<BreakGlassSession>('POST', `/v1/break-glass/${encodeURIComponent(values.close)}/close`, { reason: values.reason }));
      return 0;
    }
    if (!values.scope) throw new UsageError('--scope is required, e.g. --scope environment=prod,tool=run_sql');
    if (!values.ttl) throw new UsageError('--ttl is required, e.g. --ttl 30m');
    print(await api.call<BreakGlassSession>('POST', '/v1/break-glass', { scope: parseScope(values.scope), ttl: values.ttl, reason: values.reason }));
    return 0;
  },
};

function parseScope(text: string): Record<string, string> {
  const scope: Record<string, string> = {};
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value, extra] = pair.split('=');
    if (!key || !value || extra !== undefined || !['environment', 'agent', 'tool', 'target'].includes(key)) {
      throw new UsageError(`--scope expects environment=, agent=, tool= or target= pairs, got "${pair}"`);
    }
    scope[key] = value;
  }
  return scope;
}

/** A held action in a few lines, for people. */
export function describeApproval(a: ApprovalView): string {
  const d = a.decision;
  const approval = d.approval;
  const targets = (d.action.targets ?? []).map((t) => `${t.kind}:${t.id}${t.fraction !== undefined ? ` (${Math.round(t.fraction * 100)}%)` : ''}`).join(', ');
  const due = approval?.tier === 'high' ? `expires ${approval.expiresAt ?? '?'}` : `released ${approval?.releaseAt ?? '?'} unless vetoed`;
  const lines = [
    `${d.id}  ${approval?.tier ?? '?'} risk  ${d.state}${d.state === 'pending' ? `  ${due}` : ''}`,
    `  ${d.action.tool} in ${d.action.environment}${targets ? ` on ${targets}` : ''}, requested by ${d.principal.agent} (${d.principal.role}${d.principal.task ? `, task ${d.principal.task}` : ''})`,
    `  impact: ${Math.round(d.impact.trafficFraction * 1000) / 10}% of traffic, ${d.impact.replicas} replica(s), ${d.impact.dependents.length} dependent(s)${d.impact.reversible ? '' : ', IRREVERSIBLE'}`,
    ...d.reasons.filter((r) => r.effect !== 'allow').map((r) => `  ${r.effect} ${r.rule}: ${r.message}`),
    ...(approval?.quorum ? [`  quorum: ${approval.quorum.approvals} approval(s)${approval.quorum.groups.map((g) => `, ${g.min} from ${g.group}`).join('')}`] : []),
    ...a.votes.map((v) => `  vote: ${v.voter} ${v.vote} at ${v.at}: ${v.reason}`),
    ...(d.state === 'pending' && a.tally.missing.length > 0 ? [`  missing: ${a.tally.missing.join('; ')}`] : []),
    ...(d.resolution ? [`  resolved: ${d.resolution.reason}`] : []),
  ];
  return lines.join('\n');
}
