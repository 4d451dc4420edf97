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
