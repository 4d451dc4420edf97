/**
 * The MCP proxy's configuration file: which Governor to ask, which
 * environment the wrapped server acts on, its stable name and the limits.
 * Validated strictly: unknown keys and out-of-range values are refused with
 * the file, line and path.
 */
import { readFile } from 'node:fs/promises';
import { GovernorError, type ParseResult } from '../core/errors.js';
import { formatIssues, parseYamlSource, Reader } from '../policy/yaml-source.js';

/** A validated proxy configuration file. */
export interface ProxyConfig {
  /** The Governor server (`governor serve`) that decides. */
  readonly governorUrl: string;
  readonly environment: string;
  readonly serverName?: string;
  readonly pendingTimeoutMs?: number;
  readonly callTimeoutMs?: number;
  readonly maxArgumentBytes?: number;
}

/** Environments, as the decision API accepts them. */
export const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** Upstream server names, as the tool-pin API accepts them: printable ASCII without spaces. */
export const SERVER_NAME = /^[\x21-\x7e]{1,128}$/;
/** http(s) URLs. */
export const HTTP_URL = /^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Parses and validates the text of a proxy configuration file. */
export function parseProxyConfig(text: string, file: string): ParseResult<ProxyConfig> {
  const parsed = parseYamlSource(text, file);
  if (!parsed.ok) return parsed;
  const r = new Reader(parsed.value);
  const root = r.object([], parsed.value.value, ['governor', 'environment', 'serverName', 'pendingTimeoutMs', 'callTimeoutMs', 'maxArgumentBytes']);
  if (!root) return { ok: false, issues: r.issues };
  const governor = root['governor'] === undefined ? r.fail(['governor'], 'required: { url: http://host:port }') : r.object(['governor'], root['governor'], ['url']);
  const url =
    governor === undefined
      ? undefined
      : governor['url'] === undefined
        ? r.fail(['governor', 'url'], 'required: the URL of governor serve, e.g. http://127.0.0.1:8080')
        : r.string(['governor', 'url'], governor['url'], { max: 2048, pattern: HTTP_URL, patternName: 'an http(s) URL' });
  const environment =
    root['environment'] === undefined
      ? r.fail(['environment'], 'required: the environment the wrapped server acts on (e.g. prod)')
      : r.string(['environment'], root['environment'], { max: 128, pattern: ENVIRONMENT, patternName: 'an identifier (letters, digits, . _ : @ -)' });
  const serverName =
    root['serverName'] === undefined
      ? undefined
      : r.string(['serverName'], root['serverName'], { max: 128, pattern: SERVER_NAME, patternName: 'a name of printable characters without spaces' });
  const integer = (key: string, min: number, max: number) => (root[key] === undefined ? undefined : r.number([key], root[key], { integer: true, min, max }));
  const pendingTimeoutMs = integer('pendingTimeoutMs', 0, DAY_MS);
  const callTimeoutMs = integer('callTimeoutMs', 1, DAY_MS);
  const maxArgumentBytes = integer('maxArgumentBytes', 1, 64 * 1024 * 1024);
  if (r.issues.length > 0 || url === undefined || environment === undefined) return { ok: false, issues: r.issues };
  return {
    ok: true,
    value: Object.freeze({
      governorUrl: url.replace(/\/+$/, ''),
      environment,
      ...(serverName === undefined ? {} : { serverName }),
      ...(pendingTimeoutMs === undefined ? {} : { pendingTimeoutMs }),
      ...(callTimeoutMs === undefined ? {} : { callTimeoutMs }),
      ...(maxArgumentBytes === undefined ? {} : { maxArgumentBytes }),
    }),
  };
}

/** Reads and validates a proxy configuration file; an invalid one is a `CONFIG_INVALID` fault naming every problem. */
export async function loadProxyConfig(path: string, displayName: string = path): Promise<ProxyConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GovernorError('CONFIG_INVALID', `cannot read ${displayName}: ${(err as Error).message}`, { cause: err });
  }
  const result = parseProxyConfig(text, displayName);
  if (!result.ok) throw new GovernorError('CONFIG_INVALID', `invalid MCP proxy configuration:\n${formatIssues(displayName, result.issues)}`);
  return result.value;
}
