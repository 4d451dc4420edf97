import { lookup } from './parse-tree.js';
import type { ClassFinding } from './statement-class.js';

/**
 * Run-time settings (GUCs) a session may change without affecting anything but
 * its own timeouts, formatting and planning. Anything else is not a read: it can
 * change who the session is, how later statements are parsed or what they do.
 */
const HARMLESS_SETTINGS: ReadonlySet<string> = new Set([
  'application_name',
  'bytea_output',
  'check_function_bodies',
  'client_encoding',
  'client_min_messages',
  'datestyle',
  'default_statistics_target',
  'default_table_access_method',
  'default_tablespace',
  'default_transaction_deferrable',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'default_with_oids',
  'effective_cache_size',
  'enable_hashjoin',
  'enable_indexscan',
  'enable_mergejoin',
  'enable_nestloop',
  'enable_seqscan',
  'enable_sort',
  'extra_float_digits',
  'idle_in_transaction_session_timeout',
  'idle_session_timeout',
  'intervalstyle',
  'jit',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'lock_timeout',
  'maintenance_work_mem',
  'max_parallel_workers_per_gather',
  'random_page_cost',
  'row_security',
  'search_path',
  'statement_timeout',
  'synchronous_commit',
  'temp_buffers',
  'timezone',
  'transaction_deferrable',
  'transaction_isolation',
  'transaction_read_only',
  'transaction_timeout',
  'work_mem',
  'xmloption',
]);

/** Settings that change the identity or the access checks of the session. */
const PRIVILEGE_SETTINGS: Readonly<Record<string, string>> = {
  role: 'changes the role the session acts as',
  session_authorization: 'changes the user the session acts as',
  session_replication_role: 'with "replica", disables triggers and foreign-key checks for the session',
};

/**
 * Classifies setting `name` (as PostgreSQL folds it) to `values` (the constant
 * values; `undefined` when they are not constants): `read` for harmless session settings, `privilege`
 * for identity and access-check settings, `unanalyzable` for anything else, since
 * a setting such as `standard_conforming_strings` changes how later statements
 * are parsed and `search_path` with `pg_catalog` after another schema changes
 * which function a built-in name calls.
 */
export function classifySetting(name: string, values?: readonly string[]): ClassFinding {
  const setting = name.toLowerCase();
  const privilege = lookup(PRIVILEGE_SETTINGS, setting);
  if (privilege !== undefined) return { class: 'privilege', reason: `setting ${setting} ${privilege}` };
  // Custom settings (`app.tenant_id`) are how row-level security policies commonly learn who is asking.
  if (setting.includes('.')) {
    return { class: 'privilege', reason: `custom setting ${setting} may be read by row-level security policies or triggers to decide what the session may see` };
  }
  if (setting === 'search_path') {
    if (values === undefined) return { class: 'unanalyzable', reason: 'search_path is set to a value that is not a constant' };
    const schemas = values.flatMap((v) => v.split(',')).map((v) => v.trim().replace(/^"(.*)"$/, '$1'));
    const catalog = schemas.indexOf('pg_catalog');
    if (catalog > 0) {
      return { class: 'unanalyzable', reason: `search_path puts ${schemas.slice(0, catalog).join(', ')} before pg_catalog, so a built-in function name may call a different function` };
    }
  }
  if (HARMLESS_SETTINGS.has(setting)) return { class: 'read', reason: `setting ${setting} only affects this session`, irreversible: false };
  return { class: 'unanalyzable', reason: `setting ${setting} is not a known harmless session setting; it may change what later statements do or how they are parsed` };
}
