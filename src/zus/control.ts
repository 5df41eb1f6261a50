// The control socket of a running zusd (one JSON request line in, one JSON reply line out) and the
// client side used by `zufs status` and `zufs umount`. Kept apart from the daemon so these commands
// load nothing but node's own modules.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TransportStats } from './transport.js';
import type { TierStats } from '../pools/tiered-chunk-store.js';

export interface MountStatus {
  name: string;
  url: string;
  mountpoint: string;
  fs: string;
  layout: string;
  since: string;
  stats: TransportStats;
  tiers?: TierStats;
}

export interface DaemonStatus {
  pid: number;
  rssBytes: number;
  mounts: MountStatus[];
}

/** Where daemons leave their control sockets. */
export function runtimeDir(): string {
  if (process.getuid?.() === 0) return '/run/zufs';
  return path.join(process.env.XDG_RUNTIME_DIR ?? os.tmpdir(), `zufs-${process.getuid?.() ?? 0}`);
}

export interface ControlRequest {
  cmd?: string;
  mountpoint?: string;
}

/** The control socket of one zusd: one JSON request line in, one JSON reply line out. */
export async function listenControl(handle: (req: ControlRequest) => Promise<unknown>): Promise<{ server: net.Server; path: string }> {
  const dir = runtimeDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(dir, `zusd.${process.pid}.sock`);
  rmSync(socketPath, { force: true });
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      void Promise.resolve()
        .then(() => handle(JSON.parse(line) as ControlRequest))
        .then(
          (reply) => sock.end(JSON.stringify(reply) + '\n'),
          (e: unknown) => sock.end(JSON.stringify({ ok: false, error: (e as Error).message }) + '\n'),
        );
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  server.unref();
  return { server, path: socketPath };
}

/** Sends one control request to every running zusd; answers from the live ones. */
export async function askDaemons(req: object): Promise<{ socket: string; reply: any }[]> {
  const dir = runtimeDir();
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /^zusd\.\d+\.sock$/.test(n));
  } catch {
    return [];
  }
  const replies = await Promise.all(names.map((n) => ask(path.join(dir, n), req)));
  return replies.filter((r): r is { socket: string; reply: any } => r !== undefined);
}

function ask(socket: string, req: object): Promise<{ socket: string; reply: any } | undefined> {
  return new Promise((resolve) => {
    const conn = net.connect(socket);
    let data = '';
    const timer = setTimeout(() => { conn.destroy(); resolve(undefined); }, 60_000);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify(req) + '\n'));
    conn.on('data', (d: string) => (data += d));
    conn.on('end', () => {
      clearTimeout(timer);
      try { resolve({ socket, reply: JSON.parse(data) }); } catch { resolve(undefined); }
    });
    conn.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // A socket left by a daemon that died: remove it so status stays clean.
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') rmSync(socket, { force: true });
      resolve(undefined);
    });
  });
}
