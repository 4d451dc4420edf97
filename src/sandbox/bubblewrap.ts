import { constants as fsConstants } from 'node:fs';
import { access, lstat, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';

/**
 * The top-level host directories the sandbox sees, read-only. Everything
 * else — /home, /root, /work, /var, /srv, /opt, /mnt, /run, the host's /tmp —
 * is absent: the sandbox's root is an empty read-only filesystem with only
 * these mounted in it, so a data directory can only leak if it lives under one
 * of them (and then it is hidden, see {@link HostLayout.hide}).
 */
export const SYSTEM_ROOTS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'] as const;

/** Where `prlimit` (util-linux) may be; it must be under a {@link SYSTEM_ROOTS} entry to run inside. */
export const PRLIMIT_CANDIDATES = ['/usr/bin/prlimit', '/bin/prlimit'] as const;

/** The file descriptor on which bwrap reports the sandbox's pid (`--json-status-fd`). */
export const STATUS_FD = 3;

/** Limits enforced inside the sandbox by `prlimit` and the size of the private /tmp. */
export interface RlimitSettings {
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
  readonly processes: number;
  readonly fileSizeBytes: number;
}

/** Options of bwrap that older releases lack; the builder leaves out what is missing. */
export interface BwrapFeatures {
  /** `--size` for a tmpfs (bubblewrap 0.7). */
  readonly size: boolean;
  /** `--disable-userns`: no nested user namespaces inside (bubblewrap 0.8). */
  readonly disableUserns: boolean;
}

/** One top-level host path as it is on this host. */
export type RootEntry = { readonly path: string; readonly kind: 'dir' } | { readonly path: string; readonly kind: 'symlink'; readonly target: string };

/** The parts of the host filesystem the arguments depend on. */
export interface HostLayout {
  /** The existing {@link SYSTEM_ROOTS}, each a directory or a symlink to one. */
  readonly roots: readonly RootEntry[];
  /** Real paths under a bound root that are covered up: an empty read-only tmpfs over a directory, /dev/null over a file. */
  readonly hide: readonly { readonly path: string; readonly kind: 'dir' | 'file' }[];
  /** Absolute path of `prlimit`, under a bound root. */
  readonly prlimit: string;
}

/** Everything that determines the bwrap command line of one run. */
export interface BwrapPlan {
  readonly layout: HostLayout;
  readonly features: BwrapFeatures;
  readonly limits: RlimitSettings;
  /** Variables the command sees, on top of PATH and HOME. */
  readonly env: Readonly<Record<string, string>>;
  readonly command: readonly string[];
}

/** The environment every sandboxed command starts from; the request's `env` is added to it. */
export const BASE_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: '/usr/bin:/bin', HOME: '/tmp' });

/** The private /tmp holds at most this many times the file-size limit in total. */
export const TMP_SIZE_FACTOR = 2;

/**
 * The argv of `bwrap` (without the program name) that runs `plan.command`
 * isolated and limited. Pure: same plan, same arguments.
 *
 * The command is the last arguments, after `--` for bwrap and again for
 * prlimit, so it is never parsed as an option and never goes through a shell.
 */
export function buildBwrapArgs(plan: BwrapPlan): string[] {
  const { layout, features, limits } = plan;
  const args = [
    // New user, mount, pid, net, ipc, uts and cgroup namespaces. --unshare-user is
    // explicit because --unshare-all only tries it, and we want a failure, not a fallback.
    '--unshare-all',
    '--unshare-user',
    ...(features.disableUserns ? ['--disable-userns'] : []),
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--hostname',
    'sandbox',
  ];
  for (const root of layout.roots) {
    if (root.kind === 'dir') args.push('--ro-bind', root.path, root.path);
    else args.push('--symlink', root.target, root.path);
  }
  for (const hidden of layout.hide) {
    if (hidden.kind === 'file') args.push('--ro-bind', '/dev/null', hidden.path);
    else args.push(...(features.size ? ['--size', '4096'] : []), '--tmpfs', hidden.path, '--remount-ro', hidden.path);
  }
  args.push('--dev', '/dev', '--proc', '/proc');
  if (features.size) args.push('--size', String(limits.fileSizeBytes * TMP_SIZE_FACTOR));
  args.push('--tmpfs', '/tmp', '--remount-ro', '/', '--chdir', '/tmp', '--clearenv');
  for (const [name, value] of Object.entries({ ...BASE_ENV, ...plan.env })) args.push('--setenv', name, value);
  args.push('--json-status-fd', String(STATUS_FD), '--', layout.prlimit, ...buildPrlimitArgs(limits), '--', ...plan.command);
  return args;
}

/**
 * The options of `prlimit` that set the rlimits of the command. The CPU hard
 * limit is one second above the soft one: the soft limit sends SIGXCPU (so the
 * cause is visible), the hard one SIGKILL for a process that ignores it.
 */
export function buildPrlimitArgs(limits: RlimitSettings): string[] {
  return [
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`,
    `--as=${limits.memoryBytes}`,
    `--nproc=${limits.processes}`,
    `--fsize=${limits.fileSizeBytes}`,
    '--core=0',
  ];
}

/** The version in `bwrap --version` output (`bubblewrap 0.8.0`), or undefined. */
export function parseBwrapVersion(text: string): string | undefined {
  return /^bubblewrap\s+(\S+)/m.exec(text)?.[1];
}

/** Which optional options `bwrap --help` lists. */
export function parseBwrapFeatures(helpText: string): BwrapFeatures {
  return { size: /^\s*--size\b/m.test(helpText), disableUserns: /^\s*--disable-userns\b/m.test(helpText) };
}

/** True when `path` is `parent` or inside it (both absolute and normalized). */
export function isWithin(path: string, parent: string): boolean {
  const rel = relative(parent, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Reads the host layout: which {@link SYSTEM_ROOTS} exist, where `prlimit` is,
 * and which of `hidePaths` (resolved to real paths) would be visible through a
 * bound root and so must be covered. Paths that do not exist, or that are not
 * under a bound root (so absent from the sandbox anyway), are left out.
 */
export async function readHostLayout(hidePaths: readonly string[]): Promise<HostLayout | { readonly missing: 'prlimit' }> {
  const roots: RootEntry[] = [];
  for (const path of SYSTEM_ROOTS) {
    const stats = await lstat(path).catch(() => undefined);
    if (stats?.isDirectory()) roots.push({ path, kind: 'dir' });
    else if (stats?.isSymbolicLink()) roots.push({ path, kind: 'symlink', target: await readlink(path) });
  }
  const boundDirs = roots.filter((r) => r.kind === 'dir').map((r) => r.path);
  const visible = (real: string): boolean => boundDirs.some((dir) => isWithin(real, dir));

  let prlimit: string | undefined;
  for (const candidate of PRLIMIT_CANDIDATES) {
    const real = await realpath(candidate).catch(() => undefined);
    if (real !== undefined && visible(real) && (await isExecutable(real))) {
      prlimit = real;
      break;
    }
  }
  if (prlimit === undefined) return { missing: 'prlimit' };

  const hide: { path: string; kind: 'dir' | 'file' }[] = [];
  for (const path of hidePaths) {
    const real = await realpath(path).catch(() => undefined);
    if (real === undefined || !visible(real) || hide.some((h) => h.path === real)) continue;
    const stats = await lstat(real).catch(() => undefined);
    if (stats === undefined) continue;
    hide.push({ path: real, kind: stats.isDirectory() ? 'dir' : 'file' });
  }
  // A parent must be covered before anything inside it, or the outer mount would hide the inner one's mount point.
  hide.sort((a, b) => a.path.length - b.path.length);
  return { roots, hide: hide.filter((h, i) => !hide.slice(0, i).some((outer) => outer.kind === 'dir' && isWithin(h.path, outer.path))), prlimit };
}

/** The first executable file named `name` in the directories of `searchPath`, or undefined. */
export async function findExecutable(name: string, searchPath: string): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of searchPath.split(':')) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return (await lstat(await realpath(path))).isFile();
  } catch {
    return false;
  }
}
