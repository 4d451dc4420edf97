import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { ED25519_KEY_TYPE, createEd25519Verifier, parseVerifierKey, type NoteVerifier } from '../../audit/pure/note.js';
import { GovernorError } from '../../core/errors.js';
import { createWitness, createWitnessServer, ensureWitnessKey, openFileWitnessState } from '../../witness/index.js';
import { parseFlags, UsageError, type Command, type Io } from '../args.js';

export const witnessCommand: Command = {
  name: 'witness',
  summary: 'cosign the checkpoints of audit logs (C2SP tlog-witness)',
  help: `Usage: governor witness --key FILE --log VKEY [--log VKEY ...] --state FILE [--port N] [--host ADDR] [--name NAME]
       governor witness --key FILE --print-key [--name NAME]

Runs a witness: logs POST their signed checkpoints to /add-checkpoint with a
consistency proof from the last checkpoint this witness cosigned for them
(https://c2sp.org/tlog-witness). It cosigns (tlog-cosignature/v1) only a
checkpoint signed by a trusted log key that extends what it cosigned before,
so a log operator cannot rewrite or fork history behind its back.

  --key FILE     the witness's signing key; created on first use (mode 0600,
                 never overwritten). Its cosignature verifier key is printed on
                 standard output: give it to the log (governor serve --witness
                 VKEY@URL) and to verifiers (governor audit verify --witness-key).
  --name NAME    the witness's key name when the key is created (default
                 governor-witness/<hostname>)
  --log VKEY     a log's verifier key (name+hash+base64, or @FILE); the key
                 name is the log's origin. Repeatable.
  --state FILE   where the last cosigned checkpoint of each log is kept; written
                 atomically before each cosignature is returned. Losing it
                 lets the witness cosign a rolled-back log: back it up.
  --port N       port to listen on (default 7380, or GOVERNOR_WITNESS_PORT)
  --host ADDR    address to bind (default 127.0.0.1)
  --print-key    create the key if needed, print its verifier key and exit`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      key: { type: 'string' },
      name: { type: 'string' },
      log: { type: 'string', multiple: true },
      state: { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'print-key': { type: 'boolean', default: false },
    });
    if (!values.key) throw new UsageError('--key FILE is required');
    const key = await ensureWitnessKey(resolve(io.cwd, values.key), {
      defaultName: `governor-witness/${hostname()}`,
      ...(values.name === undefined ? {} : { name: values.name }),
    });
    if (key.created) io.err(`created witness key ${key.file}`);
    io.out(key.vkey);
    if (values['print-key']) return 0;

    const logs = await readLogKeys(values.log ?? [], io);
    if (logs.length === 0) throw new UsageError('--log VKEY is required');
    if (!values.state) throw new UsageError('--state FILE is required');
    const port = Number(values.port ?? io.env.GOVERNOR_WITNESS_PORT ?? 7380);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer in 0..65535, got "${values.port}"`);
    const host = values.host ?? '127.0.0.1';

    const state = await openFileWitnessState(resolve(io.cwd, values.state));
    const witness = createWitness({ crypto: nodeAuditCrypto, signer: key.signer, logs, state });
    const app = createWitnessServer({ witness, logger: { level: io.env.GOVERNOR_LOG_LEVEL ?? 'info' } });
    const address = await app.listen({ port, host });
    io.err(`governor witness ${key.name} listening on ${address}`);
    io.err(`witnessing ${witness.origins.join(', ')}`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        io.err('shutting down');
        app.close().then(done, (err: unknown) => {
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

/** Log verifier keys from the command line (`@FILE` reads one key a line); only plain Ed25519 log keys. */
async function readLogKeys(args: readonly string[], io: Io): Promise<NoteVerifier[]> {
  const texts: string[] = [];
  for (const arg of args) {
    if (!arg.startsWith('@')) texts.push(arg.trim());
    else for (const line of (await readFile(resolve(io.cwd, arg.slice(1)), 'utf8')).split('\n')) if (line.trim()) texts.push(line.trim());
  }
  return texts.map((text) => {
    const parsed = parseVerifierKey(nodeAuditCrypto, text);
    if (!parsed.ok) throw new GovernorError('KEY_INVALID', `--log: not a verifier key (name+hash+base64): ${parsed.issues.map((i) => i.message).join('; ')}`);
    if (parsed.value.type !== ED25519_KEY_TYPE) throw new GovernorError('KEY_INVALID', `--log ${parsed.value.name}: a log key must be an Ed25519 note key (type 0x01)`);
    return createEd25519Verifier(nodeAuditCrypto, parsed.value.name, parsed.value.publicKey);
  });
}
