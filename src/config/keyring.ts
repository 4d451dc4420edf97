import type { KeyObject } from 'node:crypto';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningKeyPair, loadPrivateKey, loadPublicKey, writeKeyPair } from '../identity/keys.js';

/** The signing keys of one Governor deployment, each in its own file pair. */
export interface Keyring {
  readonly agentIssuer: { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  readonly operatorIssuer: { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
}

/** Key file names under `<dataDir>/keys/`. Agent and operator credentials never share a key. */
export const KEY_NAMES = ['agent-issuer', 'operator-issuer'] as const;

/** Paths of one key pair. */
export function keyPaths(dataDir: string, name: (typeof KEY_NAMES)[number]) {
  return { privateKeyPath: join(dataDir, 'keys', `${name}.key`), publicKeyPath: join(dataDir, 'keys', `${name}.pub`) };
}

/**
 * Creates the missing key pairs under `<dataDir>/keys` (private keys mode 0600,
 * never overwriting one) and returns the names of those it created.
 */
export async function ensureKeys(dataDir: string): Promise<string[]> {
  await mkdir(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const created: string[] = [];
  for (const name of KEY_NAMES) {
    const paths = keyPaths(dataDir, name);
    const exists = await access(paths.privateKeyPath).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await writeKeyPair(generateSigningKeyPair(), paths);
    created.push(paths.privateKeyPath);
  }
  return created;
}

/** Loads every key pair; errors name the file and what is wrong with it. */
export async function loadKeyring(dataDir: string): Promise<Keyring> {
  const load = async (name: (typeof KEY_NAMES)[number]) => {
    const paths = keyPaths(dataDir, name);
    return { privateKey: await loadPrivateKey(paths.privateKeyPath), publicKey: await loadPublicKey(paths.publicKeyPath) };
  };
  return { agentIssuer: await load('agent-issuer'), operatorIssuer: await load('operator-issuer') };
}
