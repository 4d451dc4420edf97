import { nodeOf, roleName, str, tableName, type Fields } from './parse-tree.js';
import type { StatementClass } from './statement-class.js';

/** How one ALTER TABLE subcommand is classified. */
export interface AlterRule {
  readonly class: StatementClass;
  /** False for subcommands that only add. */
  readonly irreversible: boolean;
  readonly describe: (c: Fields, table: string) => string;
}

const col = (c: Fields, t: string) => `${t}.${str(c.name)}`;
const rule = (cls: StatementClass, irreversible: boolean, describe: AlterRule['describe']): AlterRule => ({ class: cls, irreversible, describe });
const tune = (what: string) => rule('ddl', true, (_c, t) => `changes ${what} of ${t}`);

/**
 * The class of every ALTER TABLE subcommand (`AlterTableCmd.subtype`) the analyzer
 * knows. Adding, validating and tuning is ddl; removing a column, a constraint or a
 * guarantee (NOT NULL, triggers, logging, a partition) or rewriting values is
 * destructive; ownership and row-level security are privilege. A subtype missing
 * here is unanalyzable.
 */
export const ALTER_TABLE_RULES: Readonly<Record<string, AlterRule>> = {
  AT_AddColumn: rule('ddl', false, (c, t) => `ADD COLUMN adds ${str(nodeOf(c.def)[1]?.colname)} to ${t}`),
  AT_AddColumnToView: rule('ddl', false, (c, t) => `adds column ${str(nodeOf(c.def)[1]?.colname)} to view ${t}`),
  AT_AddConstraint: rule('ddl', false, (c, t) => `ADD CONSTRAINT adds ${str(nodeOf(c.def)[1]?.conname, 'a constraint')} to ${t}, checked against every existing row`),
  AT_AddIndexConstraint: rule('ddl', false, (_c, t) => `adds a constraint backed by an existing index to ${t}`),
  AT_ValidateConstraint: rule('ddl', false, (c, t) => `VALIDATE CONSTRAINT checks ${str(c.name)} against every row of ${t}`),
  AT_SetNotNull: rule('ddl', false, (c, t) => `SET NOT NULL adds a NOT NULL constraint to ${col(c, t)}, checked against every row`),
  AT_AddIdentity: rule('ddl', false, (c, t) => `ADD IDENTITY makes ${col(c, t)} an identity column`),
  AT_AttachPartition: rule('ddl', false, (c, t) => `ATTACH PARTITION adds ${tableName(nodeOf(c.def)[1]?.name)} as a partition of ${t}`),
  AT_AddInherit: rule('ddl', false, (_c, t) => `INHERIT makes ${t} a child table; its rows appear in queries on the parent`),
  AT_AddOf: rule('ddl', false, (_c, t) => `OF binds ${t} to a composite type`),
  AT_ColumnDefault: rule('ddl', true, (c, t) => (c.def === undefined ? `DROP DEFAULT removes the default of ${col(c, t)}` : `SET DEFAULT changes the default of ${col(c, t)}`)),
  AT_SetLogged: rule('ddl', true, (_c, t) => `SET LOGGED rewrites ${t} into the write-ahead log`),
  AT_SetIdentity: tune('identity sequence options'),
  AT_SetStatistics: tune('the statistics target of a column'),
  AT_SetOptions: tune('per-column planner options'),
  AT_ResetOptions: tune('per-column planner options'),
  AT_SetStorage: tune('the storage mode of a column'),
  AT_SetCompression: tune('the compression of a column'),
  AT_ClusterOn: tune('the clustering index'),
  AT_DropCluster: tune('the clustering index'),
  AT_SetAccessMethod: tune('the access method (rewriting the table)'),
  AT_SetTableSpace: tune('the tablespace (rewriting the table under an exclusive lock)'),
  AT_SetRelOptions: tune('storage parameters'),
  AT_ResetRelOptions: tune('storage parameters'),
  AT_ReplaceRelOptions: tune('storage parameters'),
  AT_ReplicaIdentity: tune('the replica identity used by logical replication'),
  AT_GenericOptions: tune('foreign-table options'),
  AT_AlterColumnGenericOptions: tune('foreign-column options'),
  AT_AlterConstraint: tune('the deferrability of a constraint'),
  AT_DropOids: tune('the OID setting'),
  AT_EnableTrig: rule('ddl', true, (c, t) => `ENABLE TRIGGER turns on trigger ${str(c.name)} of ${t}`),
  AT_EnableAlwaysTrig: rule('ddl', true, (c, t) => `ENABLE ALWAYS TRIGGER changes when trigger ${str(c.name)} of ${t} fires`),
  AT_EnableReplicaTrig: rule('ddl', true, (c, t) => `ENABLE REPLICA TRIGGER changes when trigger ${str(c.name)} of ${t} fires`),
  AT_EnableTrigAll: rule('ddl', true, (_c, t) => `ENABLE TRIGGER ALL turns on every trigger of ${t}`),
  AT_EnableTrigUser: rule('ddl', true, (_c, t) => `ENABLE TRIGGER USER turns on the user triggers of ${t}`),
  AT_EnableRule: rule('ddl', true, (c, t) => `ENABLE RULE turns on rule ${str(c.name)} of ${t}`),
  AT_EnableAlwaysRule: rule('ddl', true, (c, t) => `ENABLE ALWAYS RULE changes when rule ${str(c.name)} of ${t} applies`),
  AT_EnableReplicaRule: rule('ddl', true, (c, t) => `ENABLE REPLICA RULE changes when rule ${str(c.name)} of ${t} applies`),
  AT_DropColumn: rule('destructive', true, (c, t) => `DROP COLUMN removes ${col(c, t)} and all of its data${c.behavior === 'DROP_CASCADE' ? ', with CASCADE also every view and constraint using it' : ''}`),
  AT_DropConstraint: rule('destructive', true, (c, t) => `DROP CONSTRAINT removes ${str(c.name)} of ${t}; the rule it enforced no longer holds`),
  AT_AlterColumnType: rule('destructive', true, (c, t) => `ALTER COLUMN TYPE rewrites every value of ${col(c, t)}; precision or data can be lost and dependent code may break`),
  AT_DropNotNull: rule('destructive', true, (c, t) => `DROP NOT NULL removes the NOT NULL constraint of ${col(c, t)}; NULLs can then be written`),
  AT_SetExpression: rule('destructive', true, (c, t) => `SET EXPRESSION changes generated column ${col(c, t)}, rewriting every stored value`),
  AT_DropExpression: rule('destructive', true, (c, t) => `DROP EXPRESSION turns generated column ${col(c, t)} into a plain column`),
  AT_DropIdentity: rule('destructive', true, (c, t) => `DROP IDENTITY removes the identity sequence of ${col(c, t)}`),
  AT_SetUnLogged: rule('destructive', true, (_c, t) => `SET UNLOGGED makes ${t} unlogged: its contents are lost after a crash and are not replicated`),
  AT_DisableTrig: rule('destructive', true, (c, t) => `DISABLE TRIGGER turns off trigger ${str(c.name)} of ${t}; whatever it enforces or records stops`),
  AT_DisableTrigAll: rule('destructive', true, (_c, t) => `DISABLE TRIGGER ALL turns off every trigger of ${t}, including foreign-key checks`),
  AT_DisableTrigUser: rule('destructive', true, (_c, t) => `DISABLE TRIGGER USER turns off the user triggers of ${t}; whatever they enforce or record stops`),
  AT_DisableRule: rule('destructive', true, (c, t) => `DISABLE RULE turns off rule ${str(c.name)} of ${t}`),
  AT_DropInherit: rule('destructive', true, (_c, t) => `NO INHERIT detaches ${t} from its parent; its rows disappear from queries on the parent`),
  AT_DropOf: rule('ddl', true, (_c, t) => `NOT OF unbinds ${t} from its composite type`),
  AT_DetachPartition: rule('destructive', true, (c, t) => `DETACH PARTITION removes ${tableName(nodeOf(c.def)[1]?.name)} from ${t}; its rows disappear from ${t}`),
  AT_DetachPartitionFinalize: rule('destructive', true, (c, t) => `DETACH PARTITION ... FINALIZE completes removing ${tableName(nodeOf(c.def)[1]?.name)} from ${t}`),
  AT_ChangeOwner: rule('privilege', true, (c, t) => `OWNER TO gives ownership of ${t}, and every privilege on it, to ${roleName(c.newowner)}`),
  AT_EnableRowSecurity: rule('privilege', true, (_c, t) => `ENABLE ROW LEVEL SECURITY makes the policies of ${t} filter its rows`),
  AT_DisableRowSecurity: rule('privilege', true, (_c, t) => `DISABLE ROW LEVEL SECURITY stops the policies of ${t} from filtering rows: every role with access sees every row`),
  AT_ForceRowSecurity: rule('privilege', true, (_c, t) => `FORCE ROW LEVEL SECURITY applies the policies of ${t} to its owner too`),
  AT_NoForceRowSecurity: rule('privilege', true, (_c, t) => `NO FORCE ROW LEVEL SECURITY exempts the owner of ${t} from its policies`),
};
