import type { ParseResult } from '../core/errors.js';

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400 };

// Digits, then at most one unit. No sign, no fraction, no whitespace, no exponent:
// anything looser is a typo we would rather refuse than guess at.
const DURATION_PATTERN = /^([0-9]{1,16})([smhd]?)$/;

/**
 * Parses a duration into whole seconds: `900` or `900s` (seconds), `15m`, `1h`, `1d`,
 * or a non-negative safe integer number of seconds. Rejects anything else — signs,
 * fractions, whitespace, unknown or upper-case units, and values beyond
 * `Number.MAX_SAFE_INTEGER` seconds. Zero is accepted; callers bound the range.
 */
export function parseDuration(input: string | number): ParseResult<number> {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) return failure(`expected a whole number of seconds, got ${String(input)}`);
    if (input < 0) return failure(`a duration must not be negative, got ${input}`);
    return { ok: true, value: input };
  }
  if (typeof input !== 'string') return failure(`expected a duration string or number, got ${typeof input}`);
  const match = DURATION_PATTERN.exec(input);
  if (match === null) {
    if (/^-[0-9]/.test(input)) return failure(`a duration must not be negative, got ${quote(input)}`);
    return failure(`expected a duration like 900, 30s, 15m, 1h or 1d, got ${quote(input)}`);
  }
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? Number.NaN);
  if (!Number.isSafeInteger(seconds)) return failure(`duration ${quote(input)} is too large`);
  return { ok: true, value: seconds };
}

function failure(message: string): ParseResult<never> {
  return { ok: false, issues: [{ path: '', message }] };
}

function quote(input: string): string {
  return JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
}
