/**
 * JWS compact serialization with EdDSA (Ed25519) only, written out so every check is
 * ours: strict base64url (canonical, unpadded) and strict JSON (the exact bytes
 * `JSON.stringify` would produce, so no duplicate keys, whitespace or escapes).
 */
import { sign, verify, type KeyObject } from 'node:crypto';

/** The JOSE header Governor writes and accepts. */
export interface JwsHeader {
  readonly alg: 'EdDSA';
  readonly typ?: 'JWT';
  readonly kid?: string;
}

/** An Ed25519 signature is always 64 bytes. */
export const SIGNATURE_BYTES = 64;

/** Signs `payload` under `header` and returns the compact `header.payload.signature`. */
export function signJws(header: JwsHeader, payload: object, privateKey: KeyObject): string {
  const signingInput = `${encodeJson(header)}.${encodeJson(payload)}`;
  const signature = sign(null, Buffer.from(signingInput, 'ascii'), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Verifies an Ed25519 signature over the ASCII signing input. Never throws for a 64-byte signature. */
export function verifyJws(signingInput: string, signature: Buffer, publicKey: KeyObject): boolean {
  return signature.length === SIGNATURE_BYTES && verify(null, Buffer.from(signingInput, 'ascii'), publicKey, signature);
}

/**
 * Decodes one base64url segment, or returns undefined unless it is the canonical
 * unpadded encoding of its bytes. Without the canonical check, changing the unused low
 * bits of the last character would give a different token with the same signature.
 */
export function decodeSegment(segment: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

/**
 * Parses bytes as a JSON object, or returns undefined unless they are valid UTF-8 JSON
 * for a plain object and exactly what `JSON.stringify` writes for that object.
 */
export function parseJsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  if (!Buffer.from(JSON.stringify(value), 'utf8').equals(bytes)) return undefined;
  return value as Record<string, unknown>;
}

function encodeJson(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
