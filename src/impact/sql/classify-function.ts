import { classifySetting } from './classify-setting.js';
import { foldConstant } from './fold-constant.js';
import { lookup } from './parse-tree.js';
import type { ClassFinding } from './statement-class.js';

/**
 * Built-in functions known to read only: no writes, no locks, no I/O outside the
 * query, no effect on other sessions. A call to anything else is not a read.
 */
const PURE_FUNCTIONS: ReadonlySet<string> = new Set([
  // aggregates and window functions
  'array_agg', 'avg', 'bit_and', 'bit_or', 'bool_and', 'bool_or', 'corr', 'count', 'covar_pop', 'covar_samp', 'cume_dist',
  'dense_rank', 'every', 'first_value', 'json_agg', 'json_object_agg', 'jsonb_agg', 'jsonb_object_agg', 'lag', 'last_value',
  'lead', 'max', 'min', 'mode', 'nth_value', 'ntile', 'percent_rank', 'percentile_cont', 'percentile_disc', 'rank',
  'row_number', 'stddev', 'stddev_pop', 'stddev_samp', 'string_agg', 'sum', 'var_pop', 'var_samp', 'variance', 'xmlagg',
  // strings
  'ascii', 'bit_length', 'btrim', 'char_length', 'character_length', 'chr', 'concat', 'concat_ws', 'convert_from',
  'convert_to', 'decode', 'encode', 'format', 'initcap', 'is_normalized', 'left', 'length', 'like_escape', 'lower', 'lpad',
  'ltrim', 'md5', 'normalize', 'octet_length', 'overlay', 'position', 'quote_ident', 'quote_literal', 'quote_nullable',
  'regexp_count', 'regexp_instr', 'regexp_like', 'regexp_match', 'regexp_matches', 'regexp_replace', 'regexp_split_to_array',
  'regexp_split_to_table', 'regexp_substr', 'repeat', 'replace', 'reverse', 'right', 'rpad', 'rtrim', 'sha224', 'sha256',
  'sha384', 'sha512', 'similar_to_escape', 'split_part', 'starts_with', 'string_to_array', 'string_to_table', 'strpos',
  'substr', 'substring', 'to_ascii', 'to_hex', 'translate', 'trim', 'unistr', 'upper',
  // numbers
  'abs', 'cbrt', 'ceil', 'ceiling', 'degrees', 'div', 'exp', 'factorial', 'floor', 'gcd', 'lcm', 'ln', 'log', 'log10', 'mod',
  'pi', 'power', 'radians', 'random', 'round', 'scale', 'sign', 'sqrt', 'trunc', 'width_bucket',
  // dates and times
  'age', 'clock_timestamp', 'date_add', 'date_bin', 'date_part', 'date_subtract', 'date_trunc', 'extract', 'isfinite',
  'justify_days', 'justify_hours', 'justify_interval', 'localtime', 'localtimestamp', 'make_date', 'make_interval',
  'make_time', 'make_timestamp', 'make_timestamptz', 'now', 'overlaps', 'statement_timestamp', 'timeofday', 'timezone',
  'to_char', 'to_date', 'to_number', 'to_timestamp', 'transaction_timestamp',
  // json
  'array_to_json', 'json_array_elements', 'json_array_elements_text', 'json_array_length', 'json_build_array',
  'json_build_object', 'json_each', 'json_each_text', 'json_extract_path', 'json_extract_path_text', 'json_object',
  'json_object_keys', 'json_populate_record', 'json_strip_nulls', 'json_to_record', 'json_to_recordset', 'json_typeof',
  'jsonb_array_elements', 'jsonb_array_elements_text', 'jsonb_array_length', 'jsonb_build_array', 'jsonb_build_object',
  'jsonb_each', 'jsonb_each_text', 'jsonb_extract_path', 'jsonb_extract_path_text', 'jsonb_insert', 'jsonb_object',
  'jsonb_object_keys', 'jsonb_path_exists', 'jsonb_path_match', 'jsonb_path_query', 'jsonb_path_query_array',
  'jsonb_path_query_first', 'jsonb_populate_record', 'jsonb_pretty', 'jsonb_set', 'jsonb_set_lax', 'jsonb_strip_nulls',
  'jsonb_to_record', 'jsonb_to_recordset', 'jsonb_typeof', 'row_to_json', 'to_json', 'to_jsonb',
  // arrays and sets
  'array_append', 'array_cat', 'array_dims', 'array_fill', 'array_length', 'array_lower', 'array_position',
  'array_positions', 'array_prepend', 'array_remove', 'array_replace', 'array_to_string', 'array_upper', 'cardinality',
  'generate_series', 'generate_subscripts', 'unnest',
  // identifiers, types and catalog lookups
  'col_description', 'current_database', 'current_schema', 'current_schemas', 'current_setting', 'format_type',
  'gen_random_uuid', 'has_column_privilege', 'has_database_privilege', 'has_function_privilege', 'has_schema_privilege',
  'has_sequence_privilege', 'has_table_privilege', 'inet_client_addr', 'inet_server_addr', 'obj_description',
  'pg_backend_pid', 'pg_collation_for', 'pg_column_size', 'pg_database_size', 'pg_get_constraintdef',
  'pg_get_expr', 'pg_get_functiondef', 'pg_get_indexdef', 'pg_get_viewdef', 'pg_has_role', 'pg_indexes_size',
  'pg_is_in_recovery', 'pg_postmaster_start_time', 'pg_relation_size', 'pg_size_bytes', 'pg_size_pretty',
  'pg_table_size', 'pg_total_relation_size', 'pg_typeof', 'shobj_description', 'system_user', 'to_regclass',
  'to_regnamespace', 'to_regproc', 'to_regtype', 'version',
]);

/** Built-ins that change something: they run, but they are writes, not reads. */
const WRITE_FUNCTIONS: Readonly<Record<string, ClassFinding>> = {
  nextval: { class: 'write', reason: 'nextval advances a sequence; that cannot be rolled back' },
  setval: { class: 'write', reason: 'setval moves a sequence; new keys may collide with existing rows' },
  pg_notify: { class: 'write', reason: 'pg_notify sends a notification to other sessions' },
  pg_advisory_lock: { class: 'write', reason: 'pg_advisory_lock takes a session-level advisory lock', irreversible: false },
  pg_advisory_lock_shared: { class: 'write', reason: 'pg_advisory_lock_shared takes a session-level advisory lock', irreversible: false },
  pg_advisory_xact_lock: { class: 'write', reason: 'pg_advisory_xact_lock takes an advisory lock', irreversible: false },
  pg_advisory_xact_lock_shared: { class: 'write', reason: 'pg_advisory_xact_lock_shared takes an advisory lock', irreversible: false },
  pg_try_advisory_lock: { class: 'write', reason: 'pg_try_advisory_lock takes a session-level advisory lock', irreversible: false },
  pg_try_advisory_xact_lock: { class: 'write', reason: 'pg_try_advisory_xact_lock takes an advisory lock', irreversible: false },
  pg_advisory_unlock: { class: 'write', reason: 'pg_advisory_unlock releases an advisory lock', irreversible: false },
  pg_advisory_unlock_all: { class: 'write', reason: 'pg_advisory_unlock_all releases every advisory lock of the session', irreversible: false },
};

/** Built-ins that destroy work or state outside the statement itself. */
const DESTRUCTIVE_FUNCTIONS: Readonly<Record<string, string>> = {
  pg_terminate_backend: 'pg_terminate_backend kills another session and rolls back its open transaction',
  pg_cancel_backend: "pg_cancel_backend cancels another session's running query and, with it, usually its transaction",
  lo_unlink: 'lo_unlink deletes a large object',
  pg_drop_replication_slot: 'pg_drop_replication_slot drops a replication slot; its consumer loses its position',
  pg_replication_origin_drop: 'pg_replication_origin_drop drops a replication origin',
  pg_stat_reset: 'pg_stat_reset discards the statistics counters of the database',
  pg_stat_reset_shared: 'pg_stat_reset_shared discards cluster-wide statistics counters',
  pg_stat_statements_reset: 'pg_stat_statements_reset discards the collected query statistics',
  pg_promote: 'pg_promote promotes a standby to primary',
  pg_truncate_visibility_map: 'pg_truncate_visibility_map truncates a visibility map',
};

/** Built-ins whose effect reaches outside the database or runs other SQL: named for a clear reason. */
const OPAQUE_FUNCTIONS: Readonly<Record<string, string>> = {
  lo_import: 'lo_import reads a file on the database server',
  lo_export: 'lo_export writes a file on the database server',
  pg_read_file: 'pg_read_file reads a file on the database server',
  pg_read_binary_file: 'pg_read_binary_file reads a file on the database server',
  pg_ls_dir: 'pg_ls_dir lists a directory on the database server',
  pg_stat_file: 'pg_stat_file inspects a file on the database server',
  pg_file_write: 'pg_file_write writes a file on the database server',
  dblink: 'dblink runs SQL on another server',
  dblink_exec: 'dblink_exec runs SQL on another server',
  dblink_connect: 'dblink_connect opens a connection to another server',
  query_to_xml: 'query_to_xml runs SQL given as a string',
  query_to_xmlschema: 'query_to_xmlschema runs SQL given as a string',
  query_to_xml_and_xmlschema: 'query_to_xml_and_xmlschema runs SQL given as a string',
  cursor_to_xml: 'cursor_to_xml fetches from a cursor whose query is not in this statement',
  pg_reload_conf: 'pg_reload_conf reloads the server configuration',
  pg_switch_wal: 'pg_switch_wal forces a WAL segment switch',
  pg_sleep: 'pg_sleep holds the connection and its locks for a caller-chosen time',
};

/**
 * Classifies a function call by its name as the parser gives it (`['count']`,
 * `['pg_catalog', 'lower']`, `['app', 'purge']`) and its argument nodes.
 * Returns `undefined` for a built-in known to only read, and otherwise a finding:
 * `write` (nextval, advisory locks), `destructive` (pg_terminate_backend, lo_unlink),
 * `privilege` or `unanalyzable` for set_config according to the setting, and
 * `unanalyzable` for every other function, including any schema-qualified one
 * outside pg_catalog: a user function can do anything.
 *
 * Unqualified names are trusted to resolve to pg_catalog, which PostgreSQL
 * searches first unless search_path names it later (see `classifySetting`).
 */
export function classifyFunction(name: readonly string[], args: readonly unknown[]): ClassFinding | undefined {
  const qualified = name.join('.');
  const builtin = name.length === 1 || (name.length === 2 && name[0] === 'pg_catalog') ? name[name.length - 1] : undefined;
  if (builtin === undefined) return { class: 'unanalyzable', reason: `calls ${qualified}, which is not a known built-in function; it may do anything` };
  if (PURE_FUNCTIONS.has(builtin)) return undefined;
  if (builtin === 'set_config') return setConfig(args);
  const write = lookup(WRITE_FUNCTIONS, builtin);
  if (write !== undefined) return write;
  const destructive = lookup(DESTRUCTIVE_FUNCTIONS, builtin);
  if (destructive !== undefined) return { class: 'destructive', reason: destructive };
  const opaque = lookup(OPAQUE_FUNCTIONS, builtin);
  if (opaque !== undefined) return { class: 'unanalyzable', reason: opaque };
  return { class: 'unanalyzable', reason: `calls ${qualified}, which is not a known side-effect-free built-in; it may write or have other effects` };
}

/**
 * True when `name` is a built-in the analyzer knows, whatever its class. EXPLAIN
 * uses this: the planner may run only functions declared immutable, which the
 * known volatile built-ins are not, but an unknown function could be.
 */
export function isKnownFunction(name: readonly string[]): boolean {
  const builtin = name.length === 1 || (name.length === 2 && name[0] === 'pg_catalog') ? name[name.length - 1] : undefined;
  if (builtin === undefined) return false;
  return PURE_FUNCTIONS.has(builtin) || builtin === 'set_config' || [WRITE_FUNCTIONS, DESTRUCTIVE_FUNCTIONS, OPAQUE_FUNCTIONS].some((known) => lookup<unknown>(known, builtin) !== undefined);
}

function setConfig(args: readonly unknown[]): ClassFinding {
  const setting = foldConstant(args[0]);
  if (setting?.t !== 'str') return { class: 'unanalyzable', reason: 'set_config changes a setting whose name is not a constant' };
  const value = foldConstant(args[1]);
  const found = classifySetting(setting.v, value?.t === 'str' ? [value.v] : undefined);
  return { ...found, reason: `set_config: ${found.reason}` };
}

/**
 * Operators of the core distribution (comparison, arithmetic, string, pattern,
 * array, range, JSON, geometric, network, text search). Any other operator is
 * user-defined and calls a function that may do anything.
 */
const BUILTIN_OPERATORS: ReadonlySet<string> = new Set([
  '=', '<>', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '^', '|/', '||/', '@', '&', '|', '#', '~', '<<', '>>',
  '||', '~~', '!~~', '~~*', '!~~*', '~*', '!~', '!~*', '@>', '<@', '&&', '&<', '&>', '-|-', '->', '->>', '#>', '#>>', '#-',
  '?', '?|', '?&', '@?', '@@', '@@@', '<->', '<<=', '>>=', '<<|', '|>>', '&<|', '|&>', '?#', '?-', '?|', '?-|', '?||',
  '##', '<^', '>^', '~=', '!!', '^@',
]);

/** True for an operator of the core distribution, written bare or as OPERATOR(pg_catalog.op). */
export function isBuiltinOperator(name: readonly string[]): boolean {
  const op = name.length === 1 || (name.length === 2 && name[0] === 'pg_catalog') ? name[name.length - 1] : undefined;
  return op !== undefined && BUILTIN_OPERATORS.has(op);
}
