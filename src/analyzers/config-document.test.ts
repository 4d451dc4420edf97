import { describe, expect, it } from 'vitest';
import { configDrift } from '../impact/config/config-drift.js';
import { MAX_CONFIG_DOCUMENT_LENGTH, parseConfigDocument } from './config-document.js';

describe('parseConfigDocument', () => {
  it('reads JSON and YAML into the same plain values', () => {
    const json = parseConfigDocument('{ "replicas": 3, "tls": { "enabled": true, "since": "2024-01-01" } }', 'json');
    const yaml = parseConfigDocument('replicas: 3\ntls:\n  enabled: true\n  since: 2024-01-01\n', 'yaml');
    expect(json).toEqual({ ok: true, value: { replicas: 3, tls: { enabled: true, since: '2024-01-01' } } });
    // YAML 1.2 has no timestamps: the date stays a string, so the two documents do not drift.
    expect(yaml).toEqual(json);
    if (json.ok && yaml.ok) expect(configDrift({ baseline: json.value, proposed: yaml.value }).changes).toEqual([]);
  });

  it('returns issues, never throws, for text that does not parse', () => {
    expect(parseConfigDocument('{ "replicas": ', 'json').ok).toBe(false);
    const duplicate = parseConfigDocument('replicas: 3\nreplicas: 4\n', 'yaml');
    expect(duplicate.ok).toBe(false);
    expect(duplicate.ok ? [] : duplicate.issues[0]?.line).toBe(2);
    expect(parseConfigDocument('a: &a [1]\nb: !custom *a\n', 'yaml').ok).toBe(false);
    expect(parseConfigDocument('x'.repeat(MAX_CONFIG_DOCUMENT_LENGTH + 1), 'json').ok).toBe(false);
    expect(parseConfigDocument('{}', 'toml' as 'json').ok).toBe(false);
  });
});
