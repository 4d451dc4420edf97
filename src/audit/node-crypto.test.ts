import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto, generateEd25519Seed } from './node-crypto.js';
import { decodeHex, encodeHex } from './pure/bytes.js';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const hex = (s: string): Uint8Array => decodeHex(s)!;

interface Wycheproof {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
}
const wycheproof = JSON.parse(readFileSync(new URL('ed25519-wycheproof.json', VECTORS), 'utf8')) as Wycheproof;
const cases = wycheproof.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, pk: g.publicKey.pk })));

describe('Ed25519 (Wycheproof)', () => {
  it('has every case', () => {
    expect(cases.length).toBe(wycheproof.numberOfTests);
  });

  // 'acceptable' cases (none in this file) may go either way: Node/OpenSSL
  // decides, and the test only checks that verify answers without throwing.
  it.each(cases)('tc $tcId $result $comment', (t) => {
    const ok = crypto.ed25519Verify(hex(t.pk), hex(t.msg), hex(t.sig));
    if (t.result === 'acceptable') expect(typeof ok).toBe('boolean');
    else expect(ok).toBe(t.result === 'valid');
  });
});

describe('nodeAuditCrypto', () => {
  // RFC 8032 §7.1 TEST 1 and TEST 2.
  it('derives the public key and signs deterministically per RFC 8032', () => {
    const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(encodeHex(crypto.ed25519PublicKey(seed))).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    expect(encodeHex(crypto.ed25519Sign(seed, new Uint8Array(0)))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const seed2 = hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
    expect(encodeHex(crypto.ed25519Sign(seed2, Uint8Array.of(0x72)))).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
  });

  it('round-trips a fresh key and rejects malformed input without throwing', () => {
    const seed = generateEd25519Seed();
    expect(seed.length).toBe(32);
    const pub = crypto.ed25519PublicKey(seed);
    const msg = Uint8Array.of(1, 2, 3);
    const sig = crypto.ed25519Sign(seed, msg);
    expect(crypto.ed25519Verify(pub, msg, sig)).toBe(true);
    expect(crypto.ed25519Verify(pub, Uint8Array.of(1, 2, 4), sig)).toBe(false);
    expect(crypto.ed25519Verify(pub.subarray(1), msg, sig)).toBe(false);
    expect(crypto.ed25519Verify(pub, msg, sig.subarray(1))).toBe(false);
    expect(crypto.ed25519Verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    expect(() => crypto.ed25519Sign(seed.subarray(1), msg)).toThrow();
  });

  it('hashes with SHA-256 into plain arrays', () => {
    const digest = crypto.sha256(new TextEncoder().encode('abc'));
    expect(encodeHex(digest)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(Buffer.isBuffer(digest)).toBe(false);
  });
});
