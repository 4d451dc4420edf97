import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGovernorError } from '../../src/core/errors.js';
import type { Governor } from '../../src/main.js';

/** Registers agent cards at trust level production (tests that are not about trust); an existing card is kept. */
export async function registerAgents(governor: Governor, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    await governor.agents.register({ name: 'test-operator', groups: [] }, { id, owner: 'team-test', purpose: 'acts in tests', trust: 'production' }).catch((err: unknown) => {
      if (!isGovernorError(err, 'CONFLICT')) throw err;
    });
  }
}

/**
 * Writes the example policy and inventory into `dir`, for tests about something
 * else than the controls: `uncarded` lets agents without a card act (so the
 * audit log holds only what the test writes), `unlimited` drops the circuit
 * breakers and the restart budget (so repeating an action is not a loop).
 */
export async function writeExamplePolicy(dir: string, options: { readonly uncarded?: boolean; readonly unlimited?: boolean } = {}): Promise<void> {
  const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
  let text = await readFile(join(examples, 'governor.yaml'), 'utf8');
  if (options.uncarded) text = text.replace('\ntrust:\n', '\ntrust:\n  unregistered: production\n');
  if (options.unlimited) text = text.replace(/\nbreakers:\n(?:  .*\n)+/, '\n').replace(/  - id: prod-restart-budget\n(?:    .*\n)+/, '');
  await writeFile(join(dir, 'governor.yaml'), text);
  await copyFile(join(examples, 'inventory.yaml'), join(dir, 'inventory.yaml'));
}
