import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/**
 * Writes the example policy (with `edit` applied) and inventory into `dir`,
 * without its circuit breakers and aggregate budget: a load generator
 * repeating the same few actions thousands of times a second is exactly what
 * those exist to stop, and a benchmark measures the decision path, not a
 * lockout (bench/control.bench.ts measures the controls). Returns the policy path.
 */
export async function writeBenchPolicy(dir: string, edit: (policy: string) => string = (p) => p): Promise<string> {
  const text = (await readFile(join(EXAMPLES, 'governor.yaml'), 'utf8'))
    .replace(/\nbreakers:\n(?:  .*\n)+/, '\n')
    .replace(/  - id: prod-restart-budget\n(?:    .*\n)+/, '');
  await writeFile(join(dir, 'governor.yaml'), edit(text));
  await copyFile(join(EXAMPLES, 'inventory.yaml'), join(dir, 'inventory.yaml'));
  return join(dir, 'governor.yaml');
}
