import { isGovernorError } from '../core/errors.js';
import { UsageError, type Command, type Io } from './args.js';
import { agentsCommand } from './commands/agents.js';
import { sandboxCommand } from './commands/sandbox.js';
import { mcpCommand } from './commands/mcp.js';
import { grantsCommand, killCommand, resumeCommand } from './commands/kill.js';
import { approvalsCommand, approveCommand, breakGlassCommand, denyCommand } from './commands/approvals.js';
import { auditCommand } from './commands/audit.js';
import { checkCommand } from './commands/check.js';
import { initCommand } from './commands/init.js';
import { policyCommand } from './commands/policy-test.js';
import { schemaCommand } from './commands/schema.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { witnessCommand } from './commands/witness.js';

const COMMANDS: readonly Command[] = [
  initCommand,
  serveCommand,
  checkCommand,
  policyCommand,
  schemaCommand,
  tokenCommand,
  agentsCommand,
  killCommand,
  resumeCommand,
  grantsCommand,
  sandboxCommand,
  mcpCommand,
  approvalsCommand,
  approveCommand,
  denyCommand,
  breakGlassCommand,
  auditCommand,
  witnessCommand,
];

const USAGE = `Usage: governor <command> [options]

Governor decides whether an AI agent's infrastructure action may run.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

Run 'governor <command> --help' for a command's options.`;

/** Runs the CLI; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    io.out('governor 0.1.0');
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`governor: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  // Flags after `--` belong to a wrapped command (governor sandbox run -- ls --help).
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`governor ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    if (isGovernorError(err)) {
      io.err(`governor ${name}: ${err.message}`);
      return err.code === 'POLICY_INVALID' || err.code === 'CONFIG_INVALID' || err.code === 'KEY_INVALID' ? 2 : 1;
    }
    io.err(`governor ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** Entry point of the `governor` binary. */
export async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(text + '\n'),
    err: (text) => process.stderr.write(text + '\n'),
    cwd: process.cwd(),
    env: process.env,
  });
  process.exitCode = code;
}
