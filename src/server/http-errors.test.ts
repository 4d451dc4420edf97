import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GovernorError, isGovernorError } from '../core/errors.js';
import { HTTP_STATUS } from './http-errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => ({ code: m[1], status: Number(m[2]) }));

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes in ERROR_CODES', () => {
    expect(documented.map((d) => d.code).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('docs/errors.md states the HTTP status the adapter uses', () => {
    for (const { code, status } of documented) expect(HTTP_STATUS[code as keyof typeof HTTP_STATUS], code).toBe(status);
  });

  it('GovernorError carries its code and cause', () => {
    const cause = new Error('disk full');
    const err = new GovernorError('STORE_UNAVAILABLE', 'write failed', { cause });
    expect(isGovernorError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect(isGovernorError(err, 'INTERNAL')).toBe(false);
    expect(err.cause).toBe(cause);
  });
});
