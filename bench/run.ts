// `npm run bench`: zufs over FUSE (memory, redis, local backends) against tmpfs and a C libfuse
// low-level server with the same semantics, side by side in one run. One pinned C client
// (bench/cfuse/load.c) drives every target; rounds interleave the targets so each ratio is paired
// within a round; this is repeated per CPU placement (split, same, default). Then zusd's peak RSS
// while a large file streams through a mount. Knobs (bench/README.md): ZUFS_BENCH_QUICK=1,
// ZUFS_BENCH_RUNS, ZUFS_BENCH_SECS, ZUFS_BENCH_TARGETS, ZUFS_BENCH_PLACEMENTS, ZUFS_BENCH_CHANNELS,
// ZUFS_BENCH_RSS_BYTES, ZUFS_BENCH_RSS_BACKENDS, ZUFS_BENCH_NAME.
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildC, memoryOf, mountOptions, pkgConfig, run, threadPlacement, which } from './lib/proc.js';
import {
  C_TARGET, metadataChecks, renderRecord, requestMix, summarizeAll, textReport,
  type BenchRecord, type Cell, type MemoryResult, type MetadataCheck, type Sample, type TargetInfo, type Workload,
} from './lib/report.js';
import { MemfsTarget, RedisServer, removeTree, TmpfsTarget, ZufsTarget, type BenchContext, type Target } from './lib/targets.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const env = process.env;
const QUICK = env['ZUFS_BENCH_QUICK'] === '1';
const num = (key: string, dflt: number): number => (env[key] !== undefined && env[key] !== '' ? Number(env[key]) : dflt);

const RUNS = num('ZUFS_BENCH_RUNS', QUICK ? 3 : 5);
const SECS = num('ZUFS_BENCH_SECS', QUICK ? 0.3 : 1);
const RAND_BYTES = QUICK ? 16 * MiB : 64 * MiB;
const SEQ_BYTES = QUICK ? 32 * MiB : 256 * MiB;
const RSS_BYTES = num('ZUFS_BENCH_RSS_BYTES', QUICK ? 512 * MiB : 4 * GiB);
const RSS_BACKENDS = (env['ZUFS_BENCH_RSS_BACKENDS'] ?? 'local').split(',').map((s) => s.trim()).filter(Boolean);
const CHANNELS = num('ZUFS_BENCH_CHANNELS', 1);
const BUDGET = 512 * MiB;
const CPUS = os.availableParallelism();
const WANTED = (env['ZUFS_BENCH_TARGETS'] ?? 'tmpfs,libfuse-c,zufs-memory,zufs-redis,zufs-local').split(',').map((s) => s.trim());

const WORKLOADS: Workload[] = [
  { id: 'stat', label: 'stat(path), attr cache off', unit: 'ops/s', metadata: true },
  { id: 'fstat', label: 'fstat = GETATTR round trip', unit: 'ops/s', metadata: true },
  { id: 'creat', label: 'create+unlink pairs', unit: 'pairs/s', metadata: true },
  { id: 'randread', label: '4 KiB random read (O_DIRECT, QD1)', unit: 'IOPS', metadata: false },
  { id: 'randwrite', label: '4 KiB random write (O_DIRECT, QD1)', unit: 'IOPS', metadata: false },
  { id: 'seqwrite', label: `1 MiB sequential write (${SEQ_BYTES / MiB} MiB + fsync)`, unit: 'MiB/s', metadata: false },
  { id: 'seqread', label: `1 MiB sequential read (${SEQ_BYTES / MiB} MiB, cache dropped)`, unit: 'MiB/s', metadata: false },
];

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const benchSrc = path.join(repoRoot, 'bench');
const binDir = path.join(repoRoot, 'dist/bench/cfuse');
const loadBin = path.join(binDir, 'load');
const memfsBin = path.join(binDir, 'memfs_ll');

interface LoadOut {
  ops: number;
  bytes: number;
  secs: number;
  ops_per_s: number;
  mib_per_s: number;
  direct: boolean;
}

let clientCpu: number | undefined;

async function load(op: string, file: string, arg: number, flags: string[] = []): Promise<LoadOut> {
  const cpu = clientCpu === undefined ? [] : ['-c', String(clientCpu)];
  const r = await run(loadBin, [...cpu, ...flags, op, file, String(arg)], 900_000);
  if (r.code !== 0) throw new Error(`load ${op} ${file}: ${r.stderr.trim() || `exit ${r.code}`}`);
  if (r.stderr.trim()) notes.add(r.stderr.trim().replace(/^load: /, '').replace(/\/[^ ]*\/mnt-/, 'mnt-'));
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadOut;
}

const notes = new Set<string>();

type Counter = () => Promise<Record<string, number> | undefined>;

interface Measured extends LoadOut {
  /** FUSE requests the server saw during the run, by opcode (zusd only, first round only). */
  requests?: Record<string, number>;
}

async function counted(counter: Counter | undefined, fn: () => Promise<LoadOut>): Promise<Measured> {
  const before = counter ? await counter() : undefined;
  const out: Measured = await fn();
  const after = counter && before ? await counter() : undefined;
  if (before && after) {
    out.requests = {};
    for (const [op, n] of Object.entries(after)) if (n - (before[op] ?? 0) > 0) out.requests[op] = n - (before[op] ?? 0);
  }
  return out;
}

/** Runs one workload group on one target; returns one result per table row it feeds. */
async function measure(t: Target, g: string, round: number, counter?: Counter): Promise<Record<string, Measured>> {
  const d = t.dir;
  const c = (op: string, file: string, arg: number, flags?: string[]): Promise<Measured> => counted(counter, () => load(op, file, arg, flags));
  switch (g) {
    case 'stat': return { stat: await c('stat', `${d}/stat.f`, SECS) };
    case 'fstat': return { fstat: await c('fstat', `${d}/stat.f`, SECS) };
    case 'creat': return { creat: await c('creat', `${d}/cu`, SECS) };
    case 'randread': return { randread: await c('randread', `${d}/rand.dat`, SECS) };
    case 'randwrite': return { randwrite: await c('randwrite', `${d}/rand.dat`, SECS) };
    case 'seq': {
      const f = `${d}/seq-${round}.dat`;
      const seqwrite = await c('seqwrite', f, SEQ_BYTES);
      const seqread = await c('seqread', f, SEQ_BYTES, ['-D']);
      await run('rm', ['-f', f]);
      return { seqwrite, seqread };
    }
    default: throw new Error(`unknown workload group ${g}`);
  }
}

async function setup(t: Target): Promise<void> {
  mkdirSync(`${t.dir}/cu`, { recursive: true });
  await load('seqwrite', `${t.dir}/rand.dat`, RAND_BYTES);
}

function rate(w: string, o: LoadOut): number {
  return w.startsWith('seq') ? o.mib_per_s : o.ops_per_s;
}

/** Polls VmRSS of every server process while the run goes on; keeps each one's peak. */
class RssWatch {
  readonly peaks = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pids: () => (number | undefined)[], private readonly everyMs: number) {}
  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }
  sample(): void {
    for (const pid of this.pids()) {
      if (pid === undefined) continue;
      const m = memoryOf(pid);
      if (m && m.rss > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, m.rss);
    }
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** zusd's RSS while one large file is written then read through a mount on `backend`. */
async function memoryTest(ctx: BenchContext, backend: string): Promise<MemoryResult> {
  const res: MemoryResult = { backend, fileBytes: RSS_BYTES, budgetBytes: BUDGET };
  if (RSS_BYTES <= 0) return { ...res, skipped: 'ZUFS_BENCH_RSS_BYTES=0' };
  const store = path.join(ctx.work, 'rss-store');
  const redis = new RedisServer(ctx);
  let url: () => string;
  if (backend === 'local') url = () => `local://${store}`;
  else if (backend === 'redis') {
    const why = RedisServer.unavailable();
    if (why) return { ...res, skipped: why };
    url = () => redis.url;
  } else return { ...res, error: `no memory test for backend ${backend}` };
  const t = new ZufsTarget({ ...ctx, attrTimeout: 1 }, `${backend}-rss`, url, () => (backend === 'redis' ? redis.start() : Promise.resolve()), () => redis.stop());
  try {
    await t.start();
  } catch (e) {
    return { ...res, error: firstLine(e) };
  }
  const pid = t.pid!;
  res.baselineRssBytes = memoryOf(pid)?.rss;
  const file = `${t.dir}/big.dat`;
  let watch = new RssWatch(() => [pid], 20);
  try {
    watch.start();
    const w = await load('seqwrite', file, RSS_BYTES);
    watch.stop();
    res.peakRssWriteBytes = watch.peaks.get(pid);
    res.writeMiBs = w.mib_per_s;
    watch = new RssWatch(() => [pid], 20);
    watch.start();
    const r = await load('seqread', file, RSS_BYTES, ['-D']);
    watch.stop();
    res.peakRssReadBytes = watch.peaks.get(pid);
    res.readMiBs = r.mib_per_s;
    res.vmHwmBytes = memoryOf(pid)?.hwm;
    res.pass = Math.max(res.peakRssWriteBytes ?? 0, res.peakRssReadBytes ?? 0, res.vmHwmBytes ?? 0) <= BUDGET;
  } catch (e) {
    watch.stop();
    res.error = firstLine(e);
  } finally {
    await t.stop();
    removeTree(store);
  }
  return res;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

async function environment(): Promise<Record<string, string>> {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const libfuse = (await run('pkg-config', ['--modversion', 'fuse3']).catch(() => undefined))?.stdout.trim() ?? '?';
  const redis = which('redis-server') ? (await run('redis-server', ['--version'])).stdout.match(/v=(\S+)/)?.[1] ?? '?' : 'absent';
  const git = (await run('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']).catch(() => undefined))?.stdout.trim() ?? '?';
  return {
    date: new Date().toISOString(),
    commit: git,
    kernel: os.release(),
    cpu: `${cpuModel} × ${CPUS}`,
    node: process.version,
    libfuse,
    redis,
  };
}

interface Placement {
  name: string;
  heading: string;
  short: string;
  clientCpu: number | undefined;
  serverCpu: number | undefined;
  channels: number;
}

/** split (the spec's placement): client on CPU 0, servers on CPU 1, every request crosses CPUs.
 *  same: client and servers share CPU 0, the placement a per-CPU channel design aims for.
 *  default: servers unpinned with one channel per CPU (zusd's default; memfs_ll's MT loop). */
function placements(): Placement[] {
  if (CPUS < 2) return [{ name: 'any', heading: 'Unpinned (one CPU)', short: 'one CPU', clientCpu: undefined, serverCpu: undefined, channels: CHANNELS }];
  const all: Placement[] = [
    { name: 'split', short: 'split: client CPU 0, server CPU 1', heading: `Client on CPU 0, servers on CPU 1 (cross-CPU), ${CHANNELS} channel(s)`, clientCpu: 0, serverCpu: 1, channels: CHANNELS },
    { name: 'same', short: 'same: both on CPU 0', heading: `Client and servers on CPU 0 (same CPU), ${CHANNELS} channel(s)`, clientCpu: 0, serverCpu: 0, channels: CHANNELS },
    { name: 'default', short: `default: server unpinned, ${CPUS} channels`, heading: `Client on CPU 0, servers unpinned, ${CPUS} channels (zusd's default; memfs_ll multi-threaded, clone_fd)`, clientCpu: 0, serverCpu: undefined, channels: CPUS },
  ];
  const wanted = (env['ZUFS_BENCH_PLACEMENTS'] ?? (QUICK ? 'split' : 'split,same,default')).split(',').map((x) => x.trim());
  return all.filter((p) => wanted.includes(p.name));
}

interface PlacementResult {
  placement: Placement;
  targets: TargetInfo[];
  names: string[];
  samples: Sample[];
  summary: Record<string, Record<string, Cell>>;
  checks: MetadataCheck[];
}

const say = (s: string): void => void process.stdout.write(s + '\n');
let interrupted = false;

async function benchPlacement(base: BenchContext, p: Placement): Promise<PlacementResult> {
  clientCpu = p.clientCpu;
  const ctx: BenchContext = { ...base, serverCpu: p.serverCpu, channels: p.channels };
  const redis = new RedisServer(ctx);
  const all: Target[] = [
    new TmpfsTarget(ctx, '1g'),
    new ZufsTarget(ctx, 'memory', () => 'memory://bench'),
    new ZufsTarget(ctx, 'redis', () => redis.url, () => redis.start(), () => redis.stop()),
    new ZufsTarget(ctx, 'local', () => `local://${path.join(ctx.work, `local-store-${p.name}`)}`),
  ];
  const info = new Map<string, TargetInfo>();
  const live: Target[] = [];
  const samples: Sample[] = [];

  const tryStart = async (t: Target, description: string): Promise<void> => {
    if (!WANTED.includes(t.name)) {
      info.set(t.name, { name: t.name, description, status: 'skipped', reason: 'not in ZUFS_BENCH_TARGETS' });
      return;
    }
    const why = t.name === 'zufs-redis' ? RedisServer.unavailable() : undefined;
    if (why) {
      info.set(t.name, { name: t.name, description, status: 'skipped', reason: why });
      say(`  skip ${t.name}: ${why}`);
      return;
    }
    try {
      await t.start();
      live.push(t);
      await setup(t);
      info.set(t.name, { name: t.name, description, status: 'ok', mountOptions: t.pid ? mountOptions(t.dir) : undefined });
      say(`  started ${t.name}: ${description}`);
    } catch (e) {
      const i = live.indexOf(t);
      if (i >= 0) live.splice(i, 1);
      await t.stop().catch(() => undefined);
      info.set(t.name, { name: t.name, description, status: 'failed', reason: firstLine(e) });
      say(`  FAILED ${t.name}: ${(e as Error).message}`);
    }
  };

  say(`placement ${p.name}: client on CPU ${p.clientCpu ?? 'any'}, servers on CPU ${p.serverCpu ?? 'any'}, ${p.channels} channel(s)`);
  try {
    // zusd first, so memfs_ll can mount with the same permission options zusd chose.
    for (const t of all) await tryStart(t, t.description);
    const z = live.find((t) => t.name.startsWith('zufs-'));
    const same = (z ? mountOptions(z.dir) : []).filter((o) => o === 'default_permissions' || o === 'allow_other');
    const memfs = new MemfsTarget(ctx, same);
    await tryStart(memfs, memfs.description + (same.length ? ` (-o ${same.join(',')}, as zusd)` : ''));
    const order = ['tmpfs', C_TARGET, 'zufs-memory', 'zufs-redis', 'zufs-local'];
    live.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const names = live.map((t) => t.name);
    const watch = new RssWatch(() => [...live.map((t) => t.pid), redis.pid], 100);
    watch.start();

    const groups = ['stat', 'fstat', 'creat', 'randread', 'randwrite', 'seq'];
    for (let round = 0; round < RUNS && !interrupted; round++) {
      const t0 = Date.now();
      for (const g of groups) {
        // Rotate the order every round so no target always runs first (or right after another).
        const ordered = live.map((_, i) => live[(i + round) % live.length]!);
        for (const t of ordered) {
          if (interrupted) break;
          try {
            const counter = round === 0 && t.requestCounts ? () => t.requestCounts!() : undefined;
            const outs = await measure(t, g, round, counter);
            for (const [w, o] of Object.entries(outs)) samples.push({ target: t.name, workload: w, round, value: rate(w, o), raw: { ...o } });
          } catch (e) {
            say(`  round ${round + 1} ${g} on ${t.name} failed: ${firstLine(e)}`);
            const ti = info.get(t.name)!;
            ti.reason = `${ti.reason ? ti.reason + '; ' : ''}round ${round + 1} ${g}: ${firstLine(e)}`;
          }
        }
      }
      if (round === 0) {
        for (const t of live) if (t.pid) info.get(t.name)!.placement = threadPlacement(t.pid);
      }
      say(`  round ${round + 1}/${RUNS} done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    watch.stop();
    for (const t of live) if (t.pid) info.get(t.name)!.peakRssBytes = watch.peaks.get(t.pid);
    const summary = summarizeAll(WORKLOADS, names, samples);
    const checks = metadataChecks(WORKLOADS, names, summary);
    return { placement: p, targets: [...info.values()], names, samples, summary, checks };
  } finally {
    for (const t of live.splice(0).reverse()) await t.stop().catch(() => undefined);
    await redis.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = os.loadavg()[0]!;
  const envInfo = await environment();
  const fuseFlags = await pkgConfig('fuse3');
  if (!fuseFlags) throw new Error('libfuse3 headers not found: apt-get install -y libfuse3-dev pkg-config fuse3');
  await buildC(path.join(benchSrc, 'cfuse/load.c'), loadBin);
  await buildC(path.join(benchSrc, 'cfuse/memfs_ll.c'), memfsBin, fuseFlags);

  const work = mkdtempSync(path.join(os.tmpdir(), 'zufs-bench-'));
  const ctx: BenchContext = { work, repoRoot, memfsBin, serverCpu: undefined, channels: CHANNELS, attrTimeout: 0, memoryBudget: BUDGET };
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping the targets\n');
  });

  say(`zufs bench${QUICK ? ' (QUICK smoke mode)' : ''}: ${RUNS} rounds, ${SECS}s per timed run, FUSE attr/entry timeout 0, channels ${CHANNELS}`);
  say(`  ${envInfo['kernel']}, ${envInfo['cpu']}, node ${envInfo['node']}, libfuse ${envInfo['libfuse']}, scratch ${work}`);

  try {
    const results: PlacementResult[] = [];
    for (const p of placements()) {
      if (!interrupted) results.push(await benchPlacement(ctx, p));
    }

    const memory: MemoryResult[] = [];
    for (const backend of RSS_BACKENDS) {
      if (interrupted) break;
      clientCpu = CPUS >= 2 ? 0 : undefined;
      say(`memory: writing then reading ${(RSS_BYTES / GiB).toFixed(2)} GiB through zufs-${backend} (client CPU 0, zusd CPU 1), polling zusd's VmRSS every 20 ms`);
      memory.push(await memoryTest({ ...ctx, serverCpu: CPUS >= 2 ? 1 : undefined }, backend));
    }

    for (const r of results) {
      say('');
      say(`=== ${r.placement.heading} ===`);
      say(textReport(WORKLOADS, r.names, r.summary));
      say('');
      for (const c of r.checks) say(`  target ≥ 1/3 of ${C_TARGET} on ${c.workload}: ${c.target} ${c.ratio === undefined ? 'not measured' : `${c.ratio.toFixed(2)}× → ${c.pass ? 'met' : 'NOT met'}`}`);
    }
    say('');
    for (const m of memory) {
      if (m.skipped || m.error) say(`memory (${m.backend}): ${m.skipped ? `skipped: ${m.skipped}` : `failed: ${m.error}`}`);
      else say(`memory (${m.backend}, ${(m.fileBytes / GiB).toFixed(2)} GiB file): RSS at start ${((m.baselineRssBytes ?? 0) / MiB).toFixed(0)} MiB, peak RSS write ${((m.peakRssWriteBytes ?? 0) / MiB).toFixed(0)} MiB, read ${((m.peakRssReadBytes ?? 0) / MiB).toFixed(0)} MiB, VmHWM ${((m.vmHwmBytes ?? 0) / MiB).toFixed(0)} MiB vs budget ${BUDGET / MiB} MiB → ${m.pass ? 'within' : 'OVER'}`);
    }
    const elapsed = (Date.now() - started) / 1000;
    say(`total ${elapsed.toFixed(0)}s`);

    const allNotes = [
      'Every FUSE target runs with attr/entry timeout 0 (zusd `attr_timeout: 0s`, memfs_ll `-o timeout=0`), so each stat(path) is a LOOKUP plus GETATTR round trips; fstat on an open file is one GETATTR. memfs_ll mounts with the same default_permissions/allow_other options as zusd.',
      `Random I/O: 4 KiB pread/pwrite at uniformly random aligned offsets in a ${RAND_BYTES / MiB} MiB file, O_DIRECT (fio psync, direct=1, iodepth 1), one client thread.`,
      'Sequential: a fresh file per round, written with 1 MiB write() calls then fsync; the page cache is dropped (echo 1 > /proc/sys/vm/drop_caches) before it is read back with 1 MiB read() calls, and every MiB\'s offset stamp is checked.',
      'Rounds interleave targets (the order rotates each round); ratios are paired within a round, then the median and min–max of those ratios are shown.',
      'With one channel, memfs_ll runs its single-threaded loop (-s); with more, libfuse\'s multi-threaded loop with clone_fd and max_threads = channels. Pinned servers are started under taskset, and zusd pins its channel workers inside the allowed set; the thread placement observed after round 1 is listed per target.',
      'memfs_ll counts the requests it handles in an mmap\'d file and zusd reports its own through its control socket; the request-mix table shows both saw the same requests per operation, so the servers are compared on the same work.',
      'The memory test writes then reads one file through a zufs mount on the local backend with the default attr timeout; VmRSS is polled every 20 ms, and VmHWM (the whole life of the process, start-up included) is read at the end.',
      ...[...notes],
    ];
    const record: BenchRecord = {
      name: env['ZUFS_BENCH_NAME'] ?? (QUICK ? 'quick' : `fuse-${envInfo['date']!.slice(0, 16).replace(/[-:T]/g, '')}`),
      quick: QUICK,
      environment: { ...envInfo, loadavgStart: loadBefore, loadavgEnd: os.loadavg()[0], channels: CHANNELS, cpus: CPUS, attrTimeout: 0, runs: RUNS, secs: SECS, randBytes: RAND_BYTES, seqBytes: SEQ_BYTES, elapsedSecs: elapsed },
      workloads: WORKLOADS,
      placements: results.map((r) => ({ name: r.placement.name, heading: r.placement.heading, short: r.placement.short, clientCpu: r.placement.clientCpu, serverCpu: r.placement.serverCpu, channels: r.placement.channels, targets: r.targets, summary: r.summary, checks: r.checks, requests: requestMix(r.samples), samples: r.samples })),
      memory,
      notes: allNotes,
    };
    const outDir = path.join(benchSrc, 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, `${record.name}.json`), JSON.stringify(record, null, 2) + '\n');
    const md = renderRecord(record);
    writeFileSync(path.join(outDir, QUICK ? 'quick.md' : 'latest.md'), md);
    say(`wrote bench/results/${record.name}.json and bench/results/${QUICK ? 'quick.md' : 'latest.md'}`);
  } finally {
    const stuck = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(work + '/'));
    if (stuck.length) process.stderr.write(`bench: ${stuck.length} mount(s) left under ${work}; not removing it\n`);
    else removeTree(work);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
