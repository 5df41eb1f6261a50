// Turns the samples of one benchmark run into the stdout table, the markdown table for the
// README (bench/results/latest.md) and the summary stored in the JSON record.
import { fmtBytes, fmtNum, fmtRatio, pairedRatios, summarize, type Summary } from './stats.js';

export interface Workload {
  id: string;
  label: string;
  unit: string;
  /** Metadata workloads are held to the "≥ 1/3 of the C libfuse server" target. */
  metadata: boolean;
}

export interface Sample {
  target: string;
  workload: string;
  round: number;
  value: number;
  raw: Record<string, unknown>;
}

export interface TargetInfo {
  name: string;
  description: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  placement?: Record<string, number>;
  mountOptions?: string[];
  peakRssBytes?: number;
}

export interface MemoryResult {
  backend: string;
  fileBytes: number;
  budgetBytes: number;
  baselineRssBytes?: number;
  peakRssWriteBytes?: number;
  peakRssReadBytes?: number;
  vmHwmBytes?: number;
  writeMiBs?: number;
  readMiBs?: number;
  pass?: boolean;
  skipped?: string;
  error?: string;
}

export interface Cell {
  value?: Summary;
  vsC?: Summary;
  vsTmpfs?: Summary;
}

export const C_TARGET = 'libfuse-c';
export const CEILING = 'tmpfs';
export const METADATA_GOAL = 1 / 3;

export function summarizeAll(workloads: readonly Workload[], targets: readonly string[], samples: readonly Sample[]): Record<string, Record<string, Cell>> {
  const byKey = new Map<string, Map<number, number>>();
  for (const s of samples) {
    const k = `${s.workload}\0${s.target}`;
    if (!byKey.has(k)) byKey.set(k, new Map());
    byKey.get(k)!.set(s.round, s.value);
  }
  const out: Record<string, Record<string, Cell>> = {};
  for (const w of workloads) {
    const row: Record<string, Cell> = {};
    const get = (t: string): Map<number, number> => byKey.get(`${w.id}\0${t}`) ?? new Map();
    for (const t of targets) {
      const v = get(t);
      const cell: Cell = {};
      const value = summarize([...v.values()]);
      if (value) cell.value = value;
      const vsC = t === C_TARGET ? undefined : summarize(pairedRatios(v, get(C_TARGET)));
      if (vsC) cell.vsC = vsC;
      const vsT = t === CEILING ? undefined : summarize(pairedRatios(v, get(CEILING)));
      if (vsT) cell.vsTmpfs = vsT;
      row[t] = cell;
    }
    out[w.id] = row;
  }
  return out;
}

export interface MetadataCheck {
  target: string;
  workload: string;
  ratio: number | undefined;
  pass: boolean | undefined;
}

/** The foundation target: every TypeScript FUSE target reaches ≥ 1/3 of memfs_ll on metadata ops. */
export function metadataChecks(workloads: readonly Workload[], targets: readonly string[], summary: Record<string, Record<string, Cell>>): MetadataCheck[] {
  const out: MetadataCheck[] = [];
  for (const w of workloads.filter((x) => x.metadata)) {
    for (const t of targets.filter((x) => x.startsWith('zufs-'))) {
      const r = summary[w.id]?.[t]?.vsC?.median;
      out.push({ target: t, workload: w.id, ratio: r, pass: r === undefined ? undefined : r >= METADATA_GOAL });
    }
  }
  return out;
}

const range = (s: Summary, f: (x: number) => string): string => `${f(s.min)}–${f(s.max)}`;

function valueText(c: Cell | undefined): string {
  return c?.value ? `${fmtNum(c.value.median)} (${range(c.value, fmtNum)})` : '—';
}

function ratioText(s: Summary | undefined): string {
  return s ? `${fmtRatio(s.median)}× (${range(s, fmtRatio)})` : '—';
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ')).join('\n');
}

export function textReport(workloads: readonly Workload[], targets: readonly string[], summary: Record<string, Record<string, Cell>>): string {
  const parts: string[] = [];
  for (const w of workloads) {
    const rows = [['target', `median (min–max) ${w.unit}`, `× ${C_TARGET}`, `× ${CEILING}`]];
    for (const t of targets) {
      const c = summary[w.id]?.[t];
      rows.push([t, valueText(c), t === C_TARGET ? '1' : ratioText(c?.vsC), t === CEILING ? '1' : ratioText(c?.vsTmpfs)]);
    }
    parts.push(`${w.label}\n${pad(rows).replace(/^/gm, '  ')}`);
  }
  return parts.join('\n\n');
}

function mdRow(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** FUSE requests per client operation, by opcode, from zusd's counters in the first round. */
export type RequestMix = Record<string, Record<string, { perOp: number; byOp: Record<string, number> }>>;

export function requestMix(samples: readonly Sample[]): RequestMix {
  const out: RequestMix = {};
  for (const s of samples) {
    const req = s.raw['requests'] as Record<string, number> | undefined;
    const ops = Number(s.raw['ops']);
    if (!req || !(ops > 0)) continue;
    const byOp: Record<string, number> = {};
    let total = 0;
    for (const [op, n] of Object.entries(req)) {
      byOp[op] = n / ops;
      total += n;
    }
    (out[s.workload] ??= {})[s.target] = { perOp: total / ops, byOp };
  }
  return out;
}

function mixText(m: { perOp: number; byOp: Record<string, number> } | undefined): string {
  if (!m) return '—';
  const parts = Object.entries(m.byOp).filter(([, v]) => v >= 0.05).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmtRatio(v)}`);
  return `${fmtRatio(m.perOp)} (${parts.join(', ')})`;
}

export interface PlacementSection {
  requests?: RequestMix;
  heading: string;
  /** Column header in the summary table. */
  short?: string;
  targets: readonly TargetInfo[];
  summary: Record<string, Record<string, Cell>>;
  checks: MetadataCheck[];
}

export interface MarkdownInput {
  title: string;
  environment: string[];
  workloads: readonly Workload[];
  sections: readonly PlacementSection[];
  memory: MemoryResult[];
  notes: string[];
}

function sectionMarkdown(workloads: readonly Workload[], s: PlacementSection): string[] {
  const names = s.targets.filter((t) => t.status === 'ok').map((t) => t.name);
  const lines: string[] = [`### ${s.heading}`, ''];
  lines.push(`Ratios to the C libfuse server (${C_TARGET}), paired per round: median (min–max). Above 1 is faster.`, '');
  const others = names.filter((n) => n !== C_TARGET);
  lines.push(mdRow(['workload', ...others]), mdRow(['---', ...others.map(() => '---:')]));
  for (const w of workloads) lines.push(mdRow([w.label, ...others.map((t) => ratioText(s.summary[w.id]?.[t]?.vsC))]));
  lines.push('');

  lines.push(`Ratios to tmpfs (${CEILING}), paired per round.`, '');
  const belowCeiling = names.filter((n) => n !== CEILING);
  lines.push(mdRow(['workload', ...belowCeiling]), mdRow(['---', ...belowCeiling.map(() => '---:')]));
  for (const w of workloads) lines.push(mdRow([w.label, ...belowCeiling.map((t) => ratioText(s.summary[w.id]?.[t]?.vsTmpfs))]));
  lines.push('');

  lines.push('Absolute rates: median (min–max). They drift 2–3× between runs on this machine; compare the ratios.', '');
  lines.push(mdRow(['workload', 'unit', ...names]), mdRow(['---', '---', ...names.map(() => '---:')]));
  for (const w of workloads) lines.push(mdRow([w.label, w.unit, ...names.map((t) => valueText(s.summary[w.id]?.[t]))]));
  lines.push('');

  const mixTargets = names.filter((n) => workloads.some((w) => s.requests?.[w.id]?.[n]));
  if (s.requests && mixTargets.length) {
    lines.push('FUSE requests per operation, counted by each server in round 1 (per 1 MiB call for the sequential rows; INIT/INTERRUPT and requests libfuse answers itself are not counted for libfuse-c).', '');
    lines.push(mdRow(['workload', ...mixTargets]), mdRow(['---', ...mixTargets.map(() => '---')]));
    for (const w of workloads) lines.push(mdRow([w.label, ...mixTargets.map((t) => mixText(s.requests?.[w.id]?.[t]))]));
    lines.push('');
  }

  if (s.checks.length) {
    lines.push(`Target: the TypeScript FUSE path reaches ≥ 1/3 of ${C_TARGET}'s metadata rate.`, '');
    lines.push(mdRow(['target', 'workload', `median × ${C_TARGET}`, 'result']), mdRow(['---', '---', '---:', '---']));
    for (const c of s.checks) {
      lines.push(mdRow([c.target, c.workload, c.ratio === undefined ? '—' : fmtRatio(c.ratio), c.pass === undefined ? 'not measured' : c.pass ? 'met' : 'NOT met']));
    }
    lines.push('');
  }

  lines.push('Targets:', '');
  for (const t of s.targets) {
    const extra: string[] = [];
    if (t.placement) extra.push(`server threads by allowed CPUs ${JSON.stringify(t.placement)}`);
    if (t.peakRssBytes) extra.push(`peak RSS ${fmtBytes(t.peakRssBytes)}`);
    if (t.mountOptions?.length) extra.push(`mount options ${t.mountOptions.join(',')}`);
    const status = t.status === 'ok' ? (t.reason ? ` — errors: ${t.reason}` : '') : ` — **${t.status}**: ${t.reason ?? ''}`;
    lines.push(`- \`${t.name}\`: ${t.description}${extra.length ? `; ${extra.join('; ')}` : ''}${status}`);
  }
  lines.push('');
  return lines;
}

/** The headline: each zufs backend against the C server, medians only, one column per placement. */
function headline(workloads: readonly Workload[], sections: readonly PlacementSection[]): string[] {
  const backends = ['zufs-memory', 'zufs-redis', 'zufs-local'].filter((b) => sections.some((s) => s.targets.some((t) => t.name === b && t.status === 'ok')));
  if (!backends.length || !sections.length) return [];
  const lines = [`Summary — zufs over FUSE ÷ ${C_TARGET}, median of paired ratios; each cell is ${backends.map((b) => b.replace('zufs-', '')).join(' / ')}; ≥ 0.33 meets the metadata target (rows marked *).`, ''];
  lines.push(mdRow(['workload', ...sections.map((s) => s.short ?? s.heading)]), mdRow(['---', ...sections.map(() => '---:')]));
  for (const w of workloads) {
    const cells = sections.map((s) => backends.map((b) => {
      const r = s.summary[w.id]?.[b]?.vsC?.median;
      return r === undefined ? '—' : fmtRatio(r);
    }).join(' / '));
    lines.push(mdRow([w.metadata ? `${w.label} *` : w.label, ...cells]));
  }
  lines.push('');
  return lines;
}

export function markdownReport(m: MarkdownInput): string {
  const lines: string[] = [`## ${m.title}`, ''];
  lines.push(...m.environment.map((e) => `- ${e}`), '');
  lines.push(...headline(m.workloads, m.sections));
  m.sections.forEach((s, i) => lines.push(...sectionMarkdown(m.workloads, i === 0 ? s : { ...s, requests: undefined })));

  if (m.memory.length) {
    lines.push('### Memory', '', 'zusd resident set while writing, then reading, one large file through the mount.', '');
    lines.push(mdRow(['backend', 'file', 'budget', 'RSS at start', 'peak RSS write', 'peak RSS read', 'VmHWM', 'write MiB/s', 'read MiB/s', 'result']));
    lines.push(mdRow(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']));
    for (const r of m.memory) {
      const b = (x: number | undefined): string => (x === undefined ? '—' : fmtBytes(x));
      const n = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(0));
      const result = r.skipped ? `skipped: ${r.skipped}` : r.error ? `failed: ${r.error}` : r.pass ? 'within budget' : 'OVER budget';
      lines.push(mdRow([r.backend, b(r.fileBytes), b(r.budgetBytes), b(r.baselineRssBytes), b(r.peakRssWriteBytes), b(r.peakRssReadBytes), b(r.vmHwmBytes), n(r.writeMiBs), n(r.readMiBs), result]));
    }
    lines.push('');
  }
  if (m.notes.length) lines.push('### Method', '', ...m.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/** What bench/results/<name>.json holds: everything needed to render the tables again. */
export interface BenchRecord {
  name: string;
  quick: boolean;
  environment: Record<string, string | number | undefined>;
  workloads: Workload[];
  placements: (PlacementSection & { name: string; samples: Sample[] })[];
  memory: MemoryResult[];
  notes: string[];
}

export function renderRecord(r: BenchRecord): string {
  const e = r.environment;
  const num = (k: string): number => Number(e[k] ?? 0);
  return markdownReport({
    title: `FUSE baseline${r.quick ? ' (quick smoke run)' : ''} — ${String(e['date']).slice(0, 10)}, commit ${e['commit']}`,
    environment: [
      `${e['cpu']}; kernel ${e['kernel']}; node ${e['node']}; libfuse ${e['libfuse']}; redis ${e['redis']}`,
      'client: bench/cfuse/load.c, one thread, pinned with sched_setaffinity; pinned servers (memfs_ll, zusd, redis-server) started under taskset',
      `${e['runs']} rounds per placement; timed runs of ${e['secs']}s; ${(num('elapsedSecs') / 60).toFixed(1)} min in all; 1-min load average ${num('loadavgStart').toFixed(1)} at the start, ${num('loadavgEnd').toFixed(1)} at the end (other work shares these ${e['cpus']} CPUs); raw samples in bench/results/${r.name}.json`,
    ],
    workloads: r.workloads,
    sections: r.placements,
    memory: r.memory,
    notes: r.notes,
  });
}
