import { GovernorError, isGovernorError } from '../core/errors.js';
import type { AuditRepository, StoredCheckpoint, StoredLeaf } from '../store/store.js';
import type { AuditCrypto } from './pure/audit-crypto.js';
import { signCheckpoint } from './pure/checkpoint.js';
import { consistencyPlan, inclusionPlan, resolveProof, subtreesOf, type HashReader, type NodeRecipe } from './pure/merkle.js';
import { formatNote, parseNote, type NoteSignature, type NoteSigner } from './pure/note.js';
import { formatTlogProof } from './pure/tlog-proof.js';
import type { WitnessClient } from './witness-client.js';

/** How the audit log signs checkpoints. */
export interface AuditLogOptions {
  readonly repository: AuditRepository;
  readonly crypto: AuditCrypto;
  /** The checkpoint origin line, e.g. `governor.example.com/audit`. */
  readonly origin: string;
  /** Every key here signs every checkpoint (more than one during a key rotation). */
  readonly signers: readonly NoteSigner[];
  /** Sign a new checkpoint at most this often while leaves arrive. Default 1000 ms. */
  readonly intervalMs?: number;
  /** ... or as soon as this many leaves arrived since the last one. Default 1000. */
  readonly maxLeaves?: number;
  /**
   * Witnesses asked to cosign every checkpoint (C2SP tlog-witness). Their
   * valid cosignatures are appended to the checkpoint note.
   */
  readonly witnesses?: readonly WitnessClient[];
  /**
   * A checkpoint is published (stored and served) only when at least this
   * many witnesses cosigned it; otherwise the previous one stays the latest.
   * Default 0: witnesses are asked, but publishing does not wait for them.
   */
  readonly witnessesRequired?: number;
  /**
   * Called when background signing fails (the log stays as it is; the next
   * attempt retries, backing off while failures repeat), and when a
   * checkpoint is published without some witness's cosignature.
   */
  readonly onError?: (err: unknown) => void;
}

/** The transparency log as the API serves it: checkpoints, entries and proofs. */
export interface AuditLog {
  readonly origin: string;
  /** Tells the log that leaves were appended, so it can sign a checkpoint in time. */
  appended(count: number): void;
  /**
   * Signs a checkpoint for the current tree now, unless the latest already
   * covers it. With witnesses required, rejects with AUDIT_UNAVAILABLE when too
   * few cosigned it (nothing is published then).
   */
  checkpoint(): Promise<StoredCheckpoint>;
  /** The latest published checkpoint (signing the first one if there is none). */
  latest(): Promise<StoredCheckpoint>;
  /** A published checkpoint that covers leaf `index` (signing one now if needed). */
  covering(index: number): Promise<StoredCheckpoint>;
  entries(start: number, end: number): Promise<readonly StoredLeaf[]>;
  inclusionProof(index: number, size: number): Promise<Uint8Array[]>;
  consistencyProof(from: number, to: number): Promise<Uint8Array[]>;
  /** A self-contained C2SP tlog-proof@v1 for one leaf, against the latest checkpoint covering it. */
  tlogProof(index: number): Promise<string>;
  /** Starts the signing timer. */
  start(): void;
  /** Stops the timer and signs a final checkpoint for what was appended. */
  stop(): Promise<void>;
}

/** Creates the audit log service over a store's audit repository. */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { repository, crypto, origin, signers } = options;
  if (signers.length === 0) throw new GovernorError('CONFIG_INVALID', 'the audit log needs at least one signing key');
  const intervalMs = options.intervalMs ?? 1000;
  const maxLeaves = options.maxLeaves ?? 1000;
  const witnesses = [...(options.witnesses ?? [])];
  const witnessesRequired = options.witnessesRequired ?? 0;
  if (!Number.isInteger(witnessesRequired) || witnessesRequired < 0 || witnessesRequired > witnesses.length) {
    throw new GovernorError('CONFIG_INVALID', `witnessesRequired must be an integer from 0 to the number of witnesses (${witnesses.length}), got ${witnessesRequired}`);
  }
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  let signing: Promise<StoredCheckpoint> | undefined;
  let latestKnown: StoredCheckpoint | undefined;
  // Background signing backs off while attempts keep failing (a witness down).
  let failures = 0;
  let retryAt = 0;

  const sign = (): Promise<StoredCheckpoint> => {
    // One signing at a time; callers arriving meanwhile share the next one.
    signing ??= (async () => {
      try {
        pending = 0;
        const head = await repository.treeHead();
        const latest = latestKnown ?? (await repository.latestCheckpoint());
        if (latest && latest.size >= head.size) return (latestKnown = latest);
        let note = signCheckpoint({ origin, size: head.size, root: head.rootHash, extensions: [] }, signers);
        if (witnesses.length > 0) note = await witness(note, head.size);
        await repository.saveCheckpoint({ size: head.size, note });
        // Another replica may have stored this size first: what is stored is authoritative.
        latestKnown = (await repository.latestCheckpoint()) ?? { size: head.size, note, createdAt: new Date().toISOString() };
        failures = 0;
        retryAt = 0;
        return latestKnown;
      } catch (err) {
        // Nothing was published: the timer tries again, later each time.
        pending = Math.max(pending, 1);
        failures++;
        retryAt = Date.now() + Math.min(intervalMs * 2 ** Math.min(failures - 1, 10), 60_000);
        throw err;
      } finally {
        signing = undefined;
      }
    })();
    return signing;
  };
  const background = () => {
    if (Date.now() < retryAt) return;
    sign().catch((err: unknown) => options.onError?.(err));
  };

  /** Collects the witnesses' cosignatures on a signed checkpoint note; throws when fewer than required. */
  const witness = async (note: string, size: number): Promise<string> => {
    const results = await Promise.allSettled(witnesses.map((w) => w.cosign({ note, size, proof: (from) => consistencyProof(from, size) })));
    const cosignatures: NoteSignature[] = [];
    const problems: string[] = [];
    let misbehaviour = false;
    for (const result of results) {
      if (result.status === 'fulfilled') {
        cosignatures.push(result.value);
        continue;
      }
      misbehaviour ||= isGovernorError(result.reason, 'AUDIT_INVALID');
      problems.push(result.reason instanceof Error ? result.reason.message : String(result.reason));
    }
    const code = misbehaviour ? 'AUDIT_INVALID' : 'AUDIT_UNAVAILABLE';
    if (cosignatures.length < witnessesRequired) {
      throw new GovernorError(
        code,
        `checkpoint at size ${size} not published: ${cosignatures.length} of the ${witnessesRequired} required witness cosignatures (${problems.join('; ')})`,
      );
    }
    if (problems.length > 0) options.onError?.(new GovernorError(code, `checkpoint at size ${size} published without ${problems.length} witness cosignature(s): ${problems.join('; ')}`));
    const parsed = parseNote(note);
    if (!parsed.ok) throw new GovernorError('INTERNAL', 'the log signed a checkpoint note that does not parse');
    return formatNote(parsed.value.text, [...parsed.value.signatures, ...cosignatures]);
  };

  const readProof = async (recipes: NodeRecipe[]): Promise<Uint8Array[]> => {
    const hashes = await repository.subtrees(subtreesOf(recipes));
    const reader: HashReader = {
      subtree(level, index) {
        const h = hashes.get(`${level}/${index}`);
        if (!h) throw new GovernorError('AUDIT_INVALID', `subtree ${level}/${index} is missing`);
        return h;
      },
    };
    return resolveProof(crypto, recipes, reader);
  };
  const checkRange = async (size: number) => {
    const head = await repository.treeHead();
    if (size > head.size) throw new GovernorError('BAD_REQUEST', `tree size ${size} is larger than the log (${head.size} leaves)`);
  };

  const consistencyProof = async (from: number, to: number): Promise<Uint8Array[]> => {
    await checkRange(to);
    if (from > to) throw new GovernorError('BAD_REQUEST', `from (${from}) must not exceed to (${to})`);
    return readProof(consistencyPlan(from, to));
  };

  const covering = async (index: number): Promise<StoredCheckpoint> => {
    const latest = await repository.latestCheckpoint();
    if (latest && latest.size > index) return latest;
    let signed = await sign();
    // A signing already under way when the leaf was appended may not cover it: the next one does.
    if (signed.size <= index) signed = await sign();
    if (signed.size <= index) throw new GovernorError('NOT_FOUND', `leaf ${index} is not in the log (${signed.size} leaves)`);
    return signed;
  };

  return {
    origin,
    appended(count) {
      pending += count;
      if (pending >= maxLeaves && !signing && Date.now() >= retryAt) setImmediate(background);
    },
    checkpoint: sign,
    async latest() {
      latestKnown = (await repository.latestCheckpoint()) ?? latestKnown;
      return latestKnown ?? sign();
    },
    covering,
    entries: (start, end) => repository.leaves(start, end),
    async inclusionProof(index, size) {
      await checkRange(size);
      return readProof(inclusionPlan(index, size));
    },
    consistencyProof,
    async tlogProof(index) {
      const checkpoint = await covering(index);
      const hashes = await readProof(inclusionPlan(index, checkpoint.size));
      return formatTlogProof({ index, hashes, checkpoint: checkpoint.note });
    },
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (pending > 0) background();
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      if (pending > 0) await sign().catch((err: unknown) => options.onError?.(err));
    },
  };
}
