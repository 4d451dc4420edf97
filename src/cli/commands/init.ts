import { copyFile, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, join, resolve } from 'node:path';
import { ensureLogKeys } from '../../audit/log-keys.js';
import { ensureKeys } from '../../config/keyring.js';
import { parseFlags, type Command } from '../args.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

export const initCommand: Command = {
  name: 'init',
  summary: 'write an example governor.yaml, inventory.yaml and signing keys',
  help: `Usage: governor init [DIR] [--origin NAME]

Writes an example policy (governor.yaml) and inventory (inventory.yaml) into DIR
(default: the current directory) and creates the signing keys under DIR/.governor/keys
(private keys mode 0600): the agent and operator credential issuers and the audit
log key, whose public verifier key (name+hash+base64) is printed: give it to
auditors. Existing files are never overwritten.

  --origin NAME   the audit log's origin, e.g. governor.example.com/audit
                  (default governor/<DIR name>)`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { origin: { type: 'string' } }, 1);
    const dir = resolve(io.cwd, positionals[0] ?? '.');
    await mkdir(dir, { recursive: true });
    for (const name of ['governor.yaml', 'inventory.yaml']) {
      const target = join(dir, name);
      try {
        await copyFile(join(EXAMPLES, name), target, constants.COPYFILE_EXCL);
        io.out(`wrote ${target}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        io.out(`kept ${target} (already exists)`);
      }
    }
    const created = await ensureKeys(join(dir, '.governor'));
    for (const key of created) io.out(`created key ${key}`);
    if (created.length === 0) io.out(`kept the keys in ${join(dir, '.governor', 'keys')}`);
    const logKeys = await ensureLogKeys(join(dir, '.governor'), values.origin ?? `governor/${basename(dir) || 'log'}`);
    io.out(`audit log verifier key (give it to auditors):\n  ${logKeys.map((k) => k.vkey).join('\n  ')}`);
    io.out(`\nnext: cd ${dir} && governor serve`);
    return 0;
  },
};
