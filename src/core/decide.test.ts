import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide } from './decide.js';
import type { Reason, RuleEffect, Tier } from './types.js';

const reason = (effect: RuleEffect, tier?: Tier): Reason => ({
  rule: `r-${effect}-${tier ?? ''}`,
  primitive: 'allow',
  effect,
  mode: 'enforce',
  message: effect,
  ...(tier ? { tier } : {}),
});

const arbReason = fc
  .tuple(fc.constantFrom<RuleEffect>('allow', 'deny', 'modify', 'approve'), fc.constantFrom<Tier>('low', 'medium', 'high'))
  .map(([effect, tier]) => reason(effect, effect === 'approve' ? tier : undefined));

describe('decide', () => {
  it('denies by default when no allow matched', () => {
    expect(decide([], 'deny')).toEqual({ verdict: 'deny' });
    expect(decide([reason('modify'), reason('approve', 'high')], 'deny').verdict).toBe('deny');
  });

  it('allows when an allow matched and nothing else spoke', () => {
    expect(decide([reason('allow')], 'deny')).toEqual({ verdict: 'allow' });
  });

  it('holds for the highest tier and ignores low tiers', () => {
    expect(decide([reason('allow'), reason('approve', 'medium'), reason('approve', 'high')], 'deny')).toEqual({ verdict: 'pending', tier: 'high' });
    expect(decide([reason('allow'), reason('approve', 'low')], 'deny')).toEqual({ verdict: 'allow', tier: 'low' });
  });

  it('approval outranks modification, modification outranks allow', () => {
    expect(decide([reason('allow'), reason('modify'), reason('approve', 'medium')], 'deny').verdict).toBe('pending');
    expect(decide([reason('allow'), reason('modify')], 'deny').verdict).toBe('modify');
  });

  it('a fallback of allow applies when no allow rule matched', () => {
    expect(decide([], 'allow').verdict).toBe('allow');
    expect(decide([reason('deny')], 'allow').verdict).toBe('deny');
  });

  it('property: any deny wins', () => {
    fc.assert(
      fc.property(fc.array(arbReason), fc.nat(), fc.constantFrom<'allow' | 'deny'>('allow', 'deny'), (reasons, at, fallback) => {
        const withDeny = [...reasons];
        withDeny.splice(at % (reasons.length + 1), 0, reason('deny'));
        return decide(withDeny, fallback).verdict === 'deny';
      }),
    );
  });

  it('property: the order of reasons never changes the verdict', () => {
    fc.assert(
      fc.property(fc.array(arbReason, { maxLength: 12 }).chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length }))), ([a, b]) => {
        expect(decide(b, 'deny')).toEqual(decide(a, 'deny'));
      }),
    );
  });
});
