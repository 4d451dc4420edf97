import { copyFile, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { ensureKeys } from '../../config/keyring.js';
import { parseFlags, type Command } from '../args.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

export const initCommand: Command = {
  name: 'init',
  summary: 'write an example governor.yaml, inventory.yaml and signing keys',
  help: `Usage: governor init [DIR]

Writes an example policy (governor.yaml) and inventory (inventory.yaml) into DIR
(default: the current directory) and creates the signing keys under DIR/.governor/keys
(private keys mode 0600). Existing files are never overwritten.`,
  async run(argv, io) {
    const { positionals } = parseFlags(argv, {}, 1);
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
    io.out(`\nnext: cd ${dir} && governor serve`);
    return 0;
  },
};
