/**
 * Reading PostgreSQL raw parse trees as libpg_query serializes them to JSON:
 * every node is `{ "Type": { ...fields } }` and fields holding a default value
 * (0, false, empty list) are left out.
 */

/** The fields of a node. */
export type Fields = Readonly<Record<string, unknown>>;

/**
 * `record[key]` for the record's own keys only. Names come from the SQL, so a
 * plain index would find `constructor` or `toString` on every object.
 */
export function lookup<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A JSON object (not an array). */
export function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ Type: body }` -> [Type, body]. */
export function nodeOf(node: unknown): [string, Fields | undefined] {
  if (!isRecord(node)) return ['', undefined];
  const keys = Object.keys(node);
  if (keys.length !== 1) return ['', undefined];
  const type = keys[0] as string;
  const body = node[type];
  return [type, isRecord(body) ? body : undefined];
}

/** The array, or an empty one: the JSON leaves empty lists out. */
export function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The strings of a list of `String` nodes, e.g. a qualified name. */
export function strings(value: unknown): string[] {
  return list(value).map((n) => (isRecord(n) && isRecord(n.String) && typeof n.String.sval === 'string' ? n.String.sval : '?'));
}

/** The string, or `fallback` when the field is absent. */
export function str(value: unknown, fallback = '?'): string {
  return typeof value === 'string' ? value : fallback;
}

/** `catalog.schema.relation` of a RangeVar, bare or wrapped. */
export function tableName(rangeVar: unknown): string {
  const rv = isRecord(rangeVar) && isRecord(rangeVar.RangeVar) ? rangeVar.RangeVar : rangeVar;
  if (!isRecord(rv) || typeof rv.relname !== 'string') return '';
  return [rv.catalogname, rv.schemaname, rv.relname].filter((p): p is string => typeof p === 'string').join('.');
}

/** A readable name for an object in a DROP, COMMENT or GRANT list. */
export function objectName(node: unknown): string {
  const [type, body] = nodeOf(node);
  if (type === 'String' && body) return str(body.sval);
  if (type === 'List' && body) return strings(body.items).join('.');
  if (type === 'ObjectWithArgs' && body) return `${strings(body.objname).join('.')}()`;
  if (type === 'TypeName' && body) return strings(body.names).join('.');
  if (type === 'RangeVar') return tableName(node);
  return '?';
}

/** The name of a RoleSpec, bare or wrapped: a role name, PUBLIC, CURRENT_USER, ... */
export function roleName(spec: unknown): string {
  const r = isRecord(spec) && isRecord(spec.RoleSpec) ? spec.RoleSpec : spec;
  if (!isRecord(r)) return '?';
  switch (r.roletype) {
    case 'ROLESPEC_PUBLIC': return 'PUBLIC';
    case 'ROLESPEC_CURRENT_USER': return 'CURRENT_USER';
    case 'ROLESPEC_CURRENT_ROLE': return 'CURRENT_ROLE';
    case 'ROLESPEC_SESSION_USER': return 'SESSION_USER';
    default: return str(r.rolename);
  }
}

/** `OBJECT_MATVIEW` -> `MATERIALIZED VIEW`. */
export function objectLabel(objtype: unknown): string {
  const raw = str(objtype, 'OBJECT_UNKNOWN').replace(/^OBJECT_/, '');
  const special: Readonly<Record<string, string>> = {
    MATVIEW: 'MATERIALIZED VIEW',
    TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
    TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
    TSPARSER: 'TEXT SEARCH PARSER',
    TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
    FDW: 'FOREIGN DATA WRAPPER',
    OPCLASS: 'OPERATOR CLASS',
    OPFAMILY: 'OPERATOR FAMILY',
    TABCONSTRAINT: 'CONSTRAINT',
    LARGEOBJECT: 'LARGE OBJECT',
  };
  return lookup(special, raw) ?? raw.replace(/_/g, ' ');
}

/** `CreateForeignServerStmt` -> `CREATE FOREIGN SERVER`. */
export function commandOf(type: string): string {
  return type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** The value of a `DefElem` option in `options`, or undefined when it is absent. */
export function option(options: unknown, name: string): { readonly arg: unknown } | undefined {
  for (const o of list(options)) {
    const [type, body] = nodeOf(o);
    if (type === 'DefElem' && body && body.defname === name) return { arg: body.arg };
  }
  return undefined;
}

/** A boolean option as PostgreSQL reads it: present without a value means true. Unreadable values count as true. */
export function optionIsOn(options: unknown, name: string): boolean {
  const o = option(options, name);
  if (o === undefined) return false;
  const [type, body] = nodeOf(o.arg);
  if (body === undefined) return true;
  if (type === 'Boolean') return body.boolval === true;
  if (type === 'Integer') return body.ival !== undefined && body.ival !== 0;
  if (type === 'String') return parseBool(str(body.sval)) !== false;
  return true;
}

/** PostgreSQL's boolean input (`parse_bool`): any unique prefix of true/false/yes/no, on/off, 1/0. */
export function parseBool(text: string): boolean | null {
  const s = text.trim().toLowerCase();
  if (s === '') return null;
  if ('true'.startsWith(s) || 'yes'.startsWith(s) || s === '1' || (s.length >= 2 && 'on'.startsWith(s))) return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || s === '0' || (s.length >= 2 && 'off'.startsWith(s))) return false;
  return null;
}
