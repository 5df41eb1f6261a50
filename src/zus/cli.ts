#!/usr/bin/env node
// The `zufs` command: mount a store (YAML config or URL; the embedded local store by default),
// unmount, and show what running zusd daemons serve.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, configFromUrl, loadConfig, type Config } from './config.js';
import { askDaemons, runtimeDir, type DaemonStatus } from './control.js';
import type { TransportChoice } from './daemon.js';
import { createLogger } from './log.js';
import { umountPath } from './umount.js';

const EXIT_CONFIG = 2;

/** The embedded default volume, used when `zufs mount` is given only a mountpoint. */
export function defaultLocalUrl(): string {
  const dir = process.getuid?.() === 0 ? '/var/lib/zufs/default' : path.join(os.homedir(), '.local/share/zufs/default');
  return `local://${dir}`;
}

function looksLikeSource(arg: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) return true;
  return /\.ya?ml$/i.test(arg) && existsSync(arg) && statSync(arg).isFile();
}

function resolveConfig(source: string | undefined): Config {
  if (source === undefined) return configFromUrl(defaultLocalUrl(), { name: 'default' });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return configFromUrl(source);
  return loadConfig(source);
}

interface MountFlags {
  transport: TransportChoice;
  daemon?: boolean;
  logLevel?: string;
  logFile?: string;
}

async function mountCommand(args: string[], flags: MountFlags): Promise<void> {
  let source: string | undefined;
  let mountpoint: string | undefined;
  if (args.length >= 2) [source, mountpoint] = args;
  else if (args.length === 1 && looksLikeSource(args[0]!)) source = args[0];
  else mountpoint = args[0];

  if (flags.transport === 'zuf') {
    process.stderr.write('zufs: with zuf.ko the kernel starts mounts: run `zufs serve`, then `mount -t zufs-<store> -o config=FILE none MOUNTPOINT`\n');
    process.exit(EXIT_CONFIG);
  }
  let config: Config;
  try {
    config = resolveConfig(source);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`zufs: config error: ${e.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw e;
  }
  if (flags.daemon) return daemonize(flags.logFile);

  const log = createLogger(flags.logLevel ?? config.daemon.log_level);
  const { pickTransport, Zusd } = await import('./daemon.js');
  const transport = await pickTransport(flags.transport);
  const zusd = new Zusd(config, log, transport);
  let signals = 0;
  const onSignal = (sig: string): void => {
    if (++signals > 1) {
      log.warn({ sig }, 'second signal: exiting without draining');
      process.exit(1);
    }
    log.info({ sig }, 'unmounting');
    void zusd.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await zusd.start(mountpoint);
  } catch (e) {
    log.error({ err: e }, 'mount failed');
    process.stderr.write(`zufs: mount failed: ${(e as Error).message}\n`);
    process.send?.({ error: (e as Error).message });
    await new Promise((r) => setTimeout(r, 50));
    process.exit(e instanceof ConfigError ? EXIT_CONFIG : 1);
  }
  process.send?.({ ready: true, mounts: zusd.status().mounts.map((m) => m.mountpoint) });
  process.disconnect?.();
  await zusd.done;
  log.info('zusd stopped');
  log.flush();
  setTimeout(() => process.exit(0), 20).unref();
}

/** Re-runs this command detached, without --daemon, and returns once it is mounted (or failed). */
async function daemonize(logFile: string | undefined): Promise<void> {
  const dir = runtimeDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = logFile ?? path.join(dir, 'zusd.log');
  const out = openSync(file, 'a');
  const argv = process.argv.slice(1).filter((a) => a !== '--daemon' && a !== '-d');
  const child = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', out, out, 'ipc'] });
  const msg = await new Promise<{ ready?: boolean; mounts?: string[]; error?: string }>((resolve) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => resolve({ error: `zusd exited with code ${code}; see ${file}` }));
  });
  if (msg.error) {
    process.stderr.write(`zufs: mount failed: ${msg.error}\n`);
    process.exit(1);
  }
  child.unref();
  child.disconnect();
  process.stdout.write(`zusd ${child.pid} serving ${(msg.mounts ?? []).join(', ')} (log: ${file})\n`);
}

async function umountCommand(mountpoint: string): Promise<void> {
  const target = path.resolve(mountpoint);
  const replies = await askDaemons({ cmd: 'umount', mountpoint: target });
  if (replies.some((r) => r.reply?.ok && r.reply.found)) return;
  // Not served by a live zusd (or it died): unmount the kernel side directly.
  umountPath(target);
}

function formatStatus(all: DaemonStatus[]): string {
  if (all.length === 0) return 'no zusd running\n';
  const lines: string[] = [];
  for (const d of all) {
    lines.push(`zusd ${d.pid}  rss ${(d.rssBytes / 2 ** 20).toFixed(1)} MiB`);
    for (const m of d.mounts) {
      lines.push(`  ${m.mountpoint}  ${m.fs} ${m.layout}  ${m.url}  transport ${m.stats.transport}  since ${m.since}`);
      lines.push(`    channels: ${m.stats.channels.map((c) => `${c.cpu < 0 ? 'event-loop' : `cpu${c.cpu}`}=${c.served}`).join(' ')}`);
      const ops = Object.entries(m.stats.ops).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`);
      if (ops.length) lines.push(`    ops: ${ops.join(' ')}`);
      if (m.stats.nio) lines.push(`    nio: maps=${m.stats.nio.maps} unmaps=${m.stats.nio.unmaps} unmapErrors=${m.stats.nio.unmapErrors} puts=${m.stats.nio.puts} putsStale=${m.stats.nio.putsStale}`);
      if (m.tiers) lines.push(`    tiers: ${Object.entries(m.tiers).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')}`);
    }
  }
  return lines.join('\n') + '\n';
}

async function statusCommand(json: boolean): Promise<void> {
  const replies = await askDaemons({ cmd: 'status' });
  const all = replies.filter((r) => r.reply?.ok).map((r) => r.reply.status as DaemonStatus);
  process.stdout.write(json ? JSON.stringify(all, null, 2) + '\n' : formatStatus(all));
}

const program = new Command('zufs')
  .description('Mount Redis, MongoDB, object stores or the embedded local store as POSIX directories')
  .showHelpAfterError();

program
  .command('mount')
  .description('mount CONFIG_OR_URL at MOUNTPOINT; with only a MOUNTPOINT, the embedded local store')
  .argument('<args...>', '[CONFIG.yaml | URL] [MOUNTPOINT]')
  .addOption(new Option('-t, --transport <kind>', 'kernel transport').choices(['auto', 'fuse', 'zuf']).default('auto'))
  .option('-d, --daemon', 'run in the background once mounted')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace')
  .option('--log-file <file>', 'log file for --daemon')
  .action((args: string[], flags: MountFlags) => mountCommand(args, flags));

program
  .command('serve')
  .description('zuf transport: register zufs-* types with zuf.ko and serve `mount -t zufs-redis -o config=FILE none DIR`')
  .option('--root <dir>', 'where the zuf root is (mounted there if needed)', '/sys/fs/zuf')
  .option('-d, --daemon', 'run in the background once registered')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', 'info')
  .option('--log-file <file>', 'log file for --daemon')
  .option('--max-channels <n>', 'channels per CPU the server grows to when the kernel finds them all busy (1-7)', '4')
  .action(async (flags: { root: string; daemon?: boolean; logLevel: string; logFile?: string; maxChannels: string }) => {
    const maxChannels = Number(flags.maxChannels);
    if (!Number.isInteger(maxChannels) || maxChannels < 1 || maxChannels > 7) {
      process.stderr.write(`zufs serve: --max-channels must be an integer from 1 to 7, not ${flags.maxChannels}\n`);
      process.exit(2);
    }
    if (flags.daemon) return daemonize(flags.logFile);
    const { serveZuf } = await import('./serve.js');
    await serveZuf(flags.root, createLogger(flags.logLevel), defaultLocalUrl(), { maxChannelsPerCpu: maxChannels });
    setTimeout(() => process.exit(0), 20).unref();
  });

program
  .command('format')
  .description('write a device table to t1 (pmem, DAX or shared-memory file) and t2 (block device or file) members')
  .requiredOption('--t1 <paths>', 'comma-separated t1 members')
  .option('--t2 <paths>', 'comma-separated t2 members')
  .option('--t1-size <size>', 'size of t1 members that are regular files (e.g. 512MiB)')
  .option('--t2-size <size>', 'size of t2 members that are regular files (e.g. 4GiB)')
  .option('--label <name>', 'a name shown in status and refusals')
  .option('--force', "overwrite members that hold another volume's table")
  .action(async (flags: { t1: string; t2?: string; t1Size?: string; t2Size?: string; label?: string; force?: boolean }) => {
    const { formatDevices } = await import('../pools/format.js');
    const { parseSize } = await import('./units.js');
    const r = formatDevices({
      t1: flags.t1.split(','),
      ...(flags.t2 && { t2: flags.t2.split(',') }),
      ...(flags.t1Size && { t1Size: parseSize(flags.t1Size) }),
      ...(flags.t2Size && { t2Size: parseSize(flags.t2Size) }),
      ...(flags.label && { label: flags.label }),
      ...(flags.force && { force: true }),
    });
    process.stdout.write(`volume ${r.volumeUuid}, journal ${(r.journalBytes / 2 ** 20).toFixed(0)} MiB\n`);
    for (const m of r.members) process.stdout.write(`  ${m.role} ${m.path}  ${m.uuid}  ${((m.blocks * 4096) / 2 ** 20).toFixed(0)} MiB  numa ${m.numa}\n`);
  });

program
  .command('umount')
  .alias('unmount')
  .description('unmount MOUNTPOINT after the server drained it')
  .argument('<mountpoint>')
  .action((mp: string) => umountCommand(mp));

program
  .command('status')
  .description('list running zusd daemons, their mounts and per-channel counters')
  .option('--json', 'machine-readable output')
  .action((flags: { json?: boolean }) => statusCommand(Boolean(flags.json)));

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`zufs: ${(e as Error).message}\n`);
  process.exit(1);
});
