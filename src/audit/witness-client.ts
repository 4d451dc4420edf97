import { GovernorError } from '../core/errors.js';
import type { AuditCrypto } from './pure/audit-crypto.js';
import { encodeBase64 } from './pure/bytes.js';
import { createCosignatureVerifier } from './pure/cosignature.js';
import { COSIGNATURE_KEY_TYPE, openNote, parseNote, parseVerifierKey, type NoteSignature, type NoteVerifier } from './pure/note.js';

/** Default time a witness has to answer one request. */
export const DEFAULT_WITNESS_TIMEOUT_MS = 5000;

/** A witness the log asks to cosign its checkpoints (C2SP tlog-witness, the log pushes). */
export interface WitnessClientOptions {
  readonly crypto: AuditCrypto;
  /** The witness's submission prefix: requests go to `<url>/add-checkpoint`. */
  readonly url: string;
  /** The witness's cosignature verifier key (type 0x04), as text or parsed. */
  readonly vkey: string | NoteVerifier;
  /** Time limit of each request. Default 5 s. */
  readonly timeoutMs?: number;
  /** Substitute for the global fetch (tests). */
  readonly fetch?: typeof fetch;
}

/** One checkpoint to have cosigned. */
export interface CosignRequest {
  /** The checkpoint note, signed by the log. */
  readonly note: string;
  /** Its tree size. */
  readonly size: number;
  /** The log's RFC 6962 consistency proof from `from` (0 < from < size) to `size`. */
  readonly proof: (from: number) => Promise<readonly Uint8Array[]>;
}

/** A witness as the log sees it. */
export interface WitnessClient {
  /** The witness's key name. */
  readonly name: string;
  readonly url: string;
  /**
   * Pushes a checkpoint with a consistency proof from the size this witness
   * last cosigned (learnt from a 409 when unknown) and resolves to its
   * verified cosignature. Rejects with AUDIT_UNAVAILABLE when the witness is
   * unreachable, refuses or answers with no valid cosignature, and with
   * AUDIT_INVALID when it has cosigned more of this log than the log holds.
   */
  cosign(request: CosignRequest): Promise<NoteSignature>;
}

/**
 * Parses a witness's cosignature verifier key (`name+hash+base64(0x04 ‖ key)`).
 * Throws KEY_INVALID for anything else, including a plain log key (0x01).
 */
export function parseCosignatureVerifierKey(crypto: AuditCrypto, vkey: string): NoteVerifier {
  const parsed = parseVerifierKey(crypto, vkey.trim());
  if (!parsed.ok) throw new GovernorError('KEY_INVALID', `not a verifier key (name+hash+base64): ${parsed.issues.map((i) => i.message).join('; ')}`);
  if (parsed.value.type !== COSIGNATURE_KEY_TYPE) {
    throw new GovernorError('KEY_INVALID', `${parsed.value.name}: a witness key must be a cosignature key (type 0x04), not type 0x${parsed.value.type.toString(16).padStart(2, '0')}`);
  }
  return createCosignatureVerifier(crypto, parsed.value.name, parsed.value.publicKey);
}

/**
 * Splits a `VKEY@URL` witness spec. The `@` is the first one after the key's
 * base64, so URLs may hold one too.
 */
export function parseWitnessSpec(spec: string): { readonly vkey: string; readonly url: string } {
  const keyStart = spec.indexOf('+', spec.indexOf('+') + 1);
  const at = keyStart < 0 ? -1 : spec.indexOf('@', keyStart);
  if (at < 0) throw new GovernorError('CONFIG_INVALID', `witness ${JSON.stringify(spec)} must be VKEY@URL`);
  const url = spec.slice(at + 1);
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new GovernorError('CONFIG_INVALID', `witness URL ${JSON.stringify(url)} must be an http(s) URL`);
  return { vkey: spec.slice(0, at), url };
}

/**
 * Checks that a checkpoint note carries a valid cosignature from each witness
 * key. Returns one problem per witness that did not cosign it (empty when all
 * did).
 */
export function missingCosignatures(note: string, witnesses: readonly NoteVerifier[]): string[] {
  const problems: string[] = [];
  for (const witness of witnesses) {
    const opened = openNote(note, [witness]);
    if (!opened.ok) problems.push(`witness ${witness.name}: ${opened.issues.map((i) => i.message).join('; ')}`);
  }
  return problems;
}

const SIZE_BODY = /^(0|[1-9][0-9]{0,15})\n?$/;

/** Creates a client for one witness. It remembers the size the witness last cosigned (0 until known). */
export function createWitnessClient(options: WitnessClientOptions): WitnessClient {
  const { crypto } = options;
  const verifier = typeof options.vkey === 'string' ? parseCosignatureVerifierKey(crypto, options.vkey) : options.vkey;
  const url = options.url.replace(/\/+$/, '');
  const endpoint = `${url}/add-checkpoint`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WITNESS_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  const name = verifier.name;
  let known = 0;

  const fail = (message: string, cause?: unknown): never => {
    throw new GovernorError('AUDIT_UNAVAILABLE', `witness ${name} (${url}): ${message}`, cause === undefined ? {} : { cause });
  };

  const post = async (body: string): Promise<{ status: number; type: string; text: string }> => {
    try {
      const res = await doFetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      return { status: res.status, type: res.headers.get('content-type') ?? '', text };
    } catch (err) {
      const reason = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : describeFetchError(err);
      return fail(reason, err);
    }
  };

  const attempt = async (request: CosignRequest, oldSize: number) => {
    const proof = oldSize === 0 || oldSize === request.size ? [] : await request.proof(oldSize);
    const body = `old ${oldSize}\n${proof.map((h) => encodeBase64(h) + '\n').join('')}\n${request.note}`;
    return post(body);
  };

  return Object.freeze({
    name,
    url,
    async cosign(request: CosignRequest): Promise<NoteSignature> {
      const note = parseNote(request.note);
      if (!note.ok) throw new GovernorError('BAD_REQUEST', `not a signed note: ${note.issues.map((i) => i.message).join('; ')}`);
      let res = await attempt(request, Math.min(known, request.size));
      if (res.status === 409) {
        // The witness tells us what it last cosigned; prove consistency from there, once.
        const match = SIZE_BODY.exec(res.text);
        if (!match) return fail(`refused the checkpoint at size ${request.size}: HTTP 409: ${snippet(res.text)}`);
        const size = Number(match[1]);
        if (size > request.size) {
          throw new GovernorError(
            'AUDIT_INVALID',
            `witness ${name} (${url}) has cosigned this log at size ${size}, but the log has only ${request.size} leaves: the log was rolled back, or another log uses its origin`,
          );
        }
        known = size;
        res = await attempt(request, size);
        if (res.status === 409 && SIZE_BODY.exec(res.text)?.[1] === String(request.size)) {
          throw new GovernorError(
            'AUDIT_INVALID',
            `witness ${name} (${url}) has cosigned a different tree at size ${request.size}: this log's history was rewritten (a fork)`,
          );
        }
      }
      if (res.status !== 200) return fail(`refused the checkpoint at size ${request.size}: HTTP ${res.status}: ${snippet(res.text)}`);
      const opened = openNote(note.value.text + '\n' + res.text, [verifier]);
      if (!opened.ok) return fail(`answered without a valid cosignature: ${opened.issues.map((i) => i.message).join('; ')}`);
      // A blank line in the answer would move the note's text/signature split.
      if (opened.value.text !== note.value.text) return fail('answered with a malformed signature block');
      known = request.size;
      return opened.value.verified[0] as NoteSignature;
    },
  });
}

function snippet(text: string): string {
  const line = text.trim().slice(0, 300);
  return line.length > 0 ? line : '(empty body)';
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici reports the socket error (ECONNREFUSED, ...) as the cause of "fetch failed".
  const cause = err.cause instanceof Error ? `: ${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message}` : '';
  return `${err.message}${cause}`;
}
