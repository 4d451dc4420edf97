import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile, rename, open as openFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createLogKey, loadLogKeys, parseVerifierKeys } from '../../audit/log-keys.js';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { missingCosignatures, parseCosignatureVerifierKey } from '../../audit/witness-client.js';
import type { NoteVerifier } from '../../audit/pure/note.js';
import { openCheckpoint } from '../../audit/pure/checkpoint.js';
import { bytesEqual, decodeBase64, encodeBase64 } from '../../audit/pure/bytes.js';
import { verifyConsistency } from '../../audit/pure/merkle.js';
import { verifyLog } from '../../audit/pure/verify-log.js';
import { defaultDataDir, openStore } from '../../main.js';
import { configFlag, parseFlags, UsageError, type Command, type Io } from '../args.js';

const PAGE = 1000;
/** Export format version, in manifest.json. */
export const EXPORT_FORMAT = 'governor-audit-export/v1';

export const auditCommand: Command = {
  name: 'audit',
  summary: 'export and verify the signed audit log',
  help: `Usage: governor audit export DIR [--config FILE] [--data-dir DIR] [--database-url URL]
       governor audit verify DIR --key VKEY [--key VKEY ...] [--witness-key VKEY ...]
       governor audit verify --url URL --key VKEY --state FILE [--token TOKEN] [--witness-key VKEY ...]
       governor audit key [--rotate] [--config FILE] [--data-dir DIR]

export   writes every leaf, the recorded leaf hashes and every signed checkpoint
         into DIR (format in docs/audit.md).
verify   DIR: recomputes the RFC 6962 tree from the leaves, checks every
         checkpoint's signature and that successive checkpoints are consistent;
         on failure names the first bad leaf index and what is wrong. Needs
         nothing but the log's public key (VKEY: name+hash+base64, or @FILE).
verify   --url: fetches the live checkpoint, checks its signature and its
         consistency with the last checkpoint verified (kept in --state FILE),
         so a rolled-back or forked log is detected (the Go sumdb client model).
         The token (or GOVERNOR_TOKEN) is any agent or operator credential.
         --witness-key VKEY (a witness's cosignature key, type 0x04, or @FILE;
         repeatable): the live checkpoint (with --url) or the latest exported
         checkpoint (with DIR) must also carry a valid cosignature from each.
key      prints the log's verifier keys; --rotate adds a new signing key (both
         sign checkpoints until the old key file is removed; keep its .vkey to
         verify the history it signed). Restart the server to use it.

Exit code 0 when verification succeeds, 1 when it fails, 2 on usage errors.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...configFlag,
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        key: { type: 'string', multiple: true },
        'witness-key': { type: 'string', multiple: true },
        url: { type: 'string' },
        state: { type: 'string' },
        token: { type: 'string' },
        rotate: { type: 'boolean', default: false },
      },
      2,
    );
    const sub = positionals[0];
    const dataDir = values['data-dir'] ? resolve(io.cwd, values['data-dir']) : defaultDataDir(resolve(io.cwd, values.config));
    if (sub === 'export') {
      if (!positionals[1]) throw new UsageError('missing DIR');
      return exportLog(resolve(io.cwd, positionals[1]), dataDir, values['database-url'] ?? io.env.GOVERNOR_DATABASE_URL, io);
    }
    if (sub === 'verify') {
      const keys = await readKeys(values.key ?? [], io);
      if (keys.length === 0) throw new UsageError('--key VKEY is required');
      const witnesses = (await readKeys(values['witness-key'] ?? [], io)).map((k) => parseCosignatureVerifierKey(nodeAuditCrypto, k));
      if (values.url) {
        if (!values.state) throw new UsageError('--state FILE is required with --url');
        return verifyLive(values.url, keys, witnesses, resolve(io.cwd, values.state), values.token ?? io.env.GOVERNOR_TOKEN, io);
      }
      if (!positionals[1]) throw new UsageError('missing DIR (or --url URL)');
      return verifyExport(resolve(io.cwd, positionals[1]), keys, witnesses, io);
    }
    if (sub === 'key') {
      const existing = await loadLogKeys(dataDir);
      if (values.rotate) {
        const origin = existing[0]?.signer.name;
        if (!origin) throw new UsageError(`no log key in ${dataDir}/keys yet: run governor serve or governor init first`);
        const created = await createLogKey(dataDir, origin, { rotated: new Date() });
        io.err(`created ${created.file}; restart the server to sign with it`);
        existing.push(created);
      }
      for (const k of existing) io.out(k.vkey);
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'missing subcommand: export, verify or key');
  },
};

async function readKeys(keys: readonly string[], io: Io): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) {
    if (!k.startsWith('@')) out.push(k);
    else for (const line of (await readFile(resolve(io.cwd, k.slice(1)), 'utf8')).split('\n')) if (line.trim()) out.push(line.trim());
  }
  return out;
}

async function exportLog(dir: string, dataDir: string, databaseUrl: string | undefined, io: Io): Promise<number> {
  const store = await openStore({ dataDir, databaseUrl });
  try {
    const keys = await loadLogKeys(dataDir);
    const checkpoints = [];
    for (let after = 0; ; ) {
      const page = await store.audit.checkpoints(after, PAGE);
      checkpoints.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.size;
    }
    const latest = checkpoints.at(-1);
    // Export exactly what the latest checkpoint covers, so the export is self-consistent.
    const size = latest?.size ?? 0;
    await mkdir(join(dir, 'checkpoints'), { recursive: true });
    const leavesFile = await openFile(join(dir, 'leaves.bin'), 'w');
    const hashesFile = await openFile(join(dir, 'leaf-hashes.bin'), 'w');
    try {
      for (let start = 0; start < size; start += PAGE) {
        const end = Math.min(size, start + PAGE);
        const leaves = await store.audit.leaves(start, end);
        const ids = leaves.map((l) => ({ level: 0, index: l.index }));
        const hashes = await store.audit.subtrees(ids);
        const chunks: Buffer[] = [];
        for (const leaf of leaves) {
          const len = Buffer.alloc(4);
          len.writeUInt32BE(leaf.bytes.length);
          chunks.push(len, Buffer.from(leaf.bytes));
        }
        await leavesFile.write(Buffer.concat(chunks));
        await hashesFile.write(Buffer.concat(ids.map((id) => Buffer.from(hashes.get(`0/${id.index}`) as Uint8Array))));
      }
    } finally {
      await leavesFile.close();
      await hashesFile.close();
    }
    for (const c of checkpoints) await writeFile(join(dir, 'checkpoints', `${String(c.size).padStart(12, '0')}.note`), c.note);
    const origin = keys[0]?.signer.name ?? null;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ format: EXPORT_FORMAT, origin, size, checkpoints: checkpoints.length, verifierKeys: keys.map((k) => k.vkey), exportedAt: new Date().toISOString() }, null, 2) + '\n');
    io.out(`exported ${size} leaves and ${checkpoints.length} checkpoints to ${dir}`);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * Reads `leaves.bin` (4-byte big-endian length + bytes per leaf) in fresh 1 MiB
 * chunks and yields views into them: no copy per leaf, memory stays flat, and a
 * yielded leaf is never overwritten (a chunk is never reused).
 */
function* readLeaves(file: string): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    let chunk = Buffer.alloc(0);
    let offset = 0;
    let eof = false;
    const need = (n: number): boolean => {
      while (chunk.length - offset < n && !eof) {
        const rest = chunk.subarray(offset);
        const next = Buffer.allocUnsafe(Math.max(1 << 20, n));
        rest.copy(next, 0);
        const read = readSync(fd, next, rest.length, next.length - rest.length, null);
        if (read === 0) eof = true;
        chunk = next.subarray(0, rest.length + read);
        offset = 0;
      }
      return chunk.length - offset >= n;
    };
    for (;;) {
      if (!need(4)) {
        if (chunk.length - offset !== 0) throw new Error('leaves.bin ends inside a length prefix');
        return;
      }
      const len = chunk.readUInt32BE(offset);
      if (len > 1 << 20) throw new Error(`leaves.bin holds a leaf of ${len} bytes, more than any leaf may be`);
      if (!need(4 + len)) throw new Error('leaves.bin ends inside a leaf');
      yield chunk.subarray(offset + 4, offset + 4 + len);
      offset += 4 + len;
    }
  } finally {
    closeSync(fd);
  }
}

function* readHashes(file: string): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    for (;;) {
      // A fresh chunk each time, so yielded views stay valid.
      const chunk = Buffer.allocUnsafe(32 * 32_768);
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) return;
      if (read % 32 !== 0) throw new Error('leaf-hashes.bin is not a whole number of 32-byte hashes');
      for (let i = 0; i < read; i += 32) yield chunk.subarray(i, i + 32);
    }
  } finally {
    closeSync(fd);
  }
}

async function verifyExport(dir: string, vkeys: readonly string[], witnesses: readonly NoteVerifier[], io: Io): Promise<number> {
  const verifiers = parseVerifierKeys(vkeys);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { format?: string; origin?: string };
  if (manifest.format !== EXPORT_FORMAT) {
    io.err(`FAIL: ${dir}/manifest.json: unknown format ${JSON.stringify(manifest.format)}`);
    return 1;
  }
  // The origin is taken from the keys the auditor trusts, never from the export itself.
  const origin = verifiers[0]!.name;
  const names = (await readdir(join(dir, 'checkpoints'))).filter((n) => n.endsWith('.note')).sort();
  const checkpoints = await Promise.all(names.map((n) => readFile(join(dir, 'checkpoints', n), 'utf8')));
  const started = process.hrtime.bigint();
  let result;
  try {
    result = verifyLog(nodeAuditCrypto, { leaves: readLeaves(join(dir, 'leaves.bin')), leafHashes: readHashes(join(dir, 'leaf-hashes.bin')), checkpoints, verifiers, origin });
  } catch (err) {
    io.err(`FAIL: ${(err as Error).message}`);
    return 1;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!result.ok) {
    const where = result.index !== undefined ? `leaf ${result.index}: ` : result.checkpoint !== undefined ? `checkpoint ${names[result.checkpoint]}: ` : '';
    io.err(`FAIL: ${where}${result.problem}`);
    return 1;
  }
  if (witnesses.length > 0) {
    const latest = checkpoints.at(-1);
    const missing = latest === undefined ? ['the export holds no checkpoint'] : missingCosignatures(latest, witnesses);
    if (missing.length > 0) {
      io.err(`FAIL: checkpoint ${names.at(-1) ?? '(none)'} is not cosigned as required: ${missing.join('; ')}`);
      return 1;
    }
  }
  const cosigned = witnesses.length > 0 ? `, latest cosigned by ${witnesses.map((w) => w.name).join(', ')}` : '';
  io.out(`OK: ${result.size} leaves, ${result.checkpoints} checkpoints verified (origin ${origin}, signed size ${result.signedSize}, root ${encodeBase64(result.root)}${cosigned}) in ${seconds.toFixed(2)} s`);
  return 0;
}

async function verifyLive(url: string, vkeys: readonly string[], witnesses: readonly NoteVerifier[], stateFile: string, token: string | undefined, io: Io): Promise<number> {
  const verifiers = parseVerifierKeys(vkeys);
  const origin = verifiers[0]!.name;
  const base = url.replace(/\/+$/, '');
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const fetchText = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return text;
  };
  const note = await fetchText('/v1/audit/checkpoint');
  const opened = openCheckpoint(note, verifiers, origin);
  if (!opened.ok) {
    io.err(`FAIL: the live checkpoint does not verify: ${opened.issues.map((i) => i.message).join('; ')}`);
    return 1;
  }
  const missing = missingCosignatures(note, witnesses);
  if (missing.length > 0) {
    io.err(`FAIL: the live checkpoint is not cosigned as required: ${missing.join('; ')}`);
    return 1;
  }
  const now = opened.value.checkpoint;
  let previous: string | undefined;
  try {
    previous = await readFile(stateFile, 'utf8');
  } catch {
    previous = undefined;
  }
  if (previous !== undefined) {
    const before = openCheckpoint(previous, verifiers, origin);
    if (!before.ok) {
      io.err(`FAIL: the state file ${stateFile} does not hold a checkpoint verified by these keys`);
      return 1;
    }
    const old = before.value.checkpoint;
    if (now.size < old.size) {
      io.err(`FAIL: the log was rolled back: it now has ${now.size} leaves, but ${old.size} were verified before`);
      return 1;
    }
    if (now.size === old.size) {
      if (!bytesEqual(now.root, old.root)) {
        io.err(`FAIL: the log forked: two different roots for size ${now.size}`);
        return 1;
      }
    } else if (old.size > 0) {
      const proof = JSON.parse(await fetchText(`/v1/audit/proofs/consistency?from=${old.size}&to=${now.size}`)) as { hashes: string[] };
      const check = verifyConsistency(nodeAuditCrypto, old.size, now.size, proof.hashes.map((h) => decodeBase64(h) ?? new Uint8Array()), old.root, now.root);
      if (!check.ok) {
        io.err(`FAIL: the log at size ${now.size} is not an extension of the verified log at size ${old.size} (fork or rewrite): ${check.reason}`);
        return 1;
      }
    }
  }
  const tmp = `${stateFile}.tmp`;
  await writeFile(tmp, note, { mode: 0o600 });
  await rename(tmp, stateFile);
  const cosigned = witnesses.length > 0 ? `, cosigned by ${witnesses.map((w) => w.name).join(', ')}` : '';
  io.out(`OK: ${origin} at size ${now.size}${cosigned}${previous !== undefined ? ' is consistent with the last verified checkpoint' : ' (first check; state saved)'}`);
  return 0;
}
