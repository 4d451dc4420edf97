import { GovernorError } from '../core/errors.js';
import type { AuditRepository, StoredCheckpoint, StoredLeaf } from '../store/store.js';
import type { AuditCrypto } from './pure/audit-crypto.js';
import { signCheckpoint } from './pure/checkpoint.js';
import { consistencyPlan, inclusionPlan, resolveProof, subtreesOf, type HashReader, type NodeRecipe } from './pure/merkle.js';
import type { NoteSigner } from './pure/note.js';
import { formatTlogProof } from './pure/tlog-proof.js';

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
  /** Called when background signing fails (the log stays as it is; the next attempt retries). */
  readonly onError?: (err: unknown) => void;
}

/** The transparency log as the API serves it: checkpoints, entries and proofs. */
export interface AuditLog {
  readonly origin: string;
  /** Tells the log that leaves were appended, so it can sign a checkpoint in time. */
  appended(count: number): void;
  /** Signs a checkpoint for the current tree now, unless the latest already covers it. */
  checkpoint(): Promise<StoredCheckpoint>;
  /** The latest signed checkpoint (signing the first one if there is none). */
  latest(): Promise<StoredCheckpoint>;
  /** A checkpoint that covers leaf `index` (signing one now if needed). */
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
  let pending = 0;
  let timer: NodeJS.Timeout | undefined;
  let signing: Promise<StoredCheckpoint> | undefined;
  let latestKnown: StoredCheckpoint | undefined;

  const sign = (): Promise<StoredCheckpoint> => {
    // One signing at a time; callers arriving meanwhile share the next one.
    signing ??= (async () => {
      try {
        pending = 0;
        const head = await repository.treeHead();
        const latest = latestKnown ?? (await repository.latestCheckpoint());
        if (latest && latest.size >= head.size) return (latestKnown = latest);
        const note = signCheckpoint({ origin, size: head.size, root: head.rootHash, extensions: [] }, signers);
        await repository.saveCheckpoint({ size: head.size, note });
        // Another replica may have stored this size first: what is stored is authoritative.
        latestKnown = (await repository.latestCheckpoint()) ?? { size: head.size, note, createdAt: new Date().toISOString() };
        return latestKnown;
      } finally {
        signing = undefined;
      }
    })();
    return signing;
  };
  const background = () => {
    sign().catch((err: unknown) => options.onError?.(err));
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

  const covering = async (index: number): Promise<StoredCheckpoint> => {
    const latest = await repository.latestCheckpoint();
    if (latest && latest.size > index) return latest;
    const signed = await sign();
    if (signed.size <= index) throw new GovernorError('NOT_FOUND', `leaf ${index} is not in the log (${signed.size} leaves)`);
    return signed;
  };

  return {
    origin,
    appended(count) {
      pending += count;
      if (pending >= maxLeaves && !signing) setImmediate(background);
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
    async consistencyProof(from, to) {
      await checkRange(to);
      if (from > to) throw new GovernorError('BAD_REQUEST', `from (${from}) must not exceed to (${to})`);
      return readProof(consistencyPlan(from, to));
    },
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
