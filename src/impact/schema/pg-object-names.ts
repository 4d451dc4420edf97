/**
 * The names PostgreSQL gives objects created without one (`users_pkey`,
 * `users_email_key`, `users_org_id_fkey`, `users_lower_idx1`), so that a
 * schema computed from DDL names its constraints and indexes as the catalog
 * will. A port of `makeObjectName`, `ChooseRelationName` and friends
 * (src/backend/commands/indexcmds.c); lengths are in UTF-8 bytes.
 */

/** Identifiers are at most NAMEDATALEN - 1 bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/** `name1_name2_label`, with the longer of name1 and name2 shortened to fit in 63 bytes. */
export function makeObjectName(name1: string, name2: string | undefined, label: string | undefined): string {
  let name1Bytes = utf8Length(name1);
  let name2Bytes = name2 === undefined ? 0 : utf8Length(name2);
  let overhead = name2 === undefined ? 0 : 1;
  if (label !== undefined) overhead += utf8Length(label) + 1;
  const available = MAX_IDENTIFIER_BYTES - overhead;
  while (name1Bytes + name2Bytes > available) {
    if (name1Bytes > name2Bytes) name1Bytes--;
    else name2Bytes--;
  }
  let name = clipUtf8(name1, name1Bytes);
  if (name2 !== undefined) name += `_${clipUtf8(name2, name2Bytes)}`;
  if (label !== undefined) name += `_${label}`;
  return name;
}

/**
 * The first of `name1_name2_label`, `name1_name2_label1`, `..._label2`, ...
 * for which `taken` is false (ChooseRelationName / ChooseConstraintName).
 */
export function chooseName(name1: string, name2: string | undefined, label: string, taken: (name: string) => boolean): string {
  for (let pass = 0; ; pass++) {
    const name = makeObjectName(name1, name2, pass === 0 ? label : `${label}${pass}`);
    if (!taken(name)) return name;
  }
}

/** Column names joined by `_`, stopping once the result is a full identifier long (ChooseIndexNameAddition). */
export function nameAddition(columns: readonly string[]): string {
  let out = '';
  for (const column of columns) {
    if (out !== '') out += '_';
    out += column;
    if (utf8Length(out) >= MAX_IDENTIFIER_BYTES) break;
  }
  return out;
}

/**
 * The names of an index's columns as ChooseIndexColumnNames picks them: the
 * column, or the function's name for a function call, or `expr`; a repeated
 * name gets a number (`lower`, `lower1`).
 */
export function indexColumnNames(keys: readonly string[]): string[] {
  const names: string[] = [];
  for (const key of keys) {
    let name = key;
    for (let i = 1; names.includes(name); i++) {
      const suffix = String(i);
      name = clipUtf8(key, MAX_IDENTIFIER_BYTES - suffix.length) + suffix;
    }
    names.push(name);
  }
  return names;
}

/** Byte length of the UTF-8 encoding. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes that ends on a character boundary. */
export function clipUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of text) {
    const size = utf8Length(ch);
    if (bytes + size > maxBytes) break;
    bytes += size;
    out += ch;
  }
  return out;
}
