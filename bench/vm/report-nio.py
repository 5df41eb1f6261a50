#!/usr/bin/env python3
"""Turns the BENCH lines of bench/vm/guest-nio-bench.sh into bench/results/nio-<date>.json + nio-latest.md."""
import argparse, json, datetime, subprocess
from rounds import summ, fmt

ap = argparse.ArgumentParser()
ap.add_argument('raw'); ap.add_argument('out_json'); ap.add_argument('out_md')
ap.add_argument('--kver', default=''); ap.add_argument('--vmrc', default='')
ap.add_argument('--cmd', default=''); ap.add_argument('--secs', default=''); ap.add_argument('--filemib', default='')
a = ap.parse_args()

runs, notes, failed = [], [], []
for line in open(a.raw, errors='replace'):
    if line.startswith('BENCH '):
        try: runs.append(json.loads(line[6:]))
        except Exception: notes.append(f'unparsable line: {line[:120]!r}')
    elif line.startswith('#') or line.startswith('BENCH-ERROR'):
        notes.append(line.rstrip())

ZK = ['round_trips', 'bytes_to_server', 'bytes_from_server', 'bytes_from_t1', 'cross_cpu', 'channel_waits', 'nio_pages_hit', 'nio_gets',
      'bytes_to_t1', 'nio_puts']

def derive(r):
    ld = r['load'][0]
    r['ops'], r['bytes'], r['ops_per_s'], r['mib_per_s'], r['lat_us'] = ld['ops'], ld['bytes'], ld['ops_per_s'], ld['mib_per_s'], ld['lat_us']
    ops, byts = r['ops'], r['bytes']
    if r.get('zuf_before') and r.get('zuf_after'):
        d = dict(zip(ZK, [y - x for x, y in zip(r['zuf_before'], r['zuf_after'])]))
        d.setdefault('bytes_to_t1', 0); d.setdefault('nio_puts', 0)   # runs stored before NIO writes
        t1b = d['bytes_from_t1'] + d['bytes_to_t1']
        r['counts'] = {'round_trips_per_op': d['round_trips'] / ops,
                       'kernel_bytes_copied_per_byte': (d['bytes_to_server'] + d['bytes_from_server'] + t1b) / byts,
                       'op_buffer_bytes_per_byte': (d['bytes_to_server'] + d['bytes_from_server']) / byts,
                       't1_bytes_per_byte': t1b / byts, 'nio_puts_per_op': d['nio_puts'] / ops,
                       'cross_cpu_per_op': d['cross_cpu'] / ops, 'channel_waits_per_op': d['channel_waits'] / ops,
                       'nio_pages_hit_per_op': d['nio_pages_hit'] / ops, 'nio_gets_per_op': d['nio_gets'] / ops}
    elif r.get('fuse_before') is not None and r.get('fuse_after') is not None:
        fb, fa = r['fuse_before'], r['fuse_after']
        mix = {k: (fa[k] - fb.get(k, 0)) / ops for k in fa if fa[k] != fb.get(k, 0)}
        r['counts'] = {'round_trips_per_op': sum(mix.values()), 'mix_per_op': {k: round(v, 4) for k, v in mix.items()}}
    elif r['target'] == 'ext4':
        r['counts'] = {'round_trips_per_op': 0.0}   # no server
    return r

ok = []
for r in runs:
    if r.get('round', 0) == 0: continue
    if r.get('rc') != 0 or not r.get('load') or r['load'][0] is None:
        failed.append(f"{r.get('phase')}/{r.get('round')}/{r.get('target')}/{r.get('workload')}: rc {r.get('rc')} {r.get('stderr', '')}"); continue
    ok.append(derive(r))
by = {(r['phase'], r['target'], r['workload'], r['round']): r for r in ok}
rounds = sorted({r['round'] for r in ok})
EP = 'A' if any(r['target'] == 'ext4' and r['phase'] == 'A' for r in ok) else 'B'   # ext4 in the zuf rounds, or after them


WL = {'rand4k': '4 KiB random pread, cached 32 MiB file', 'seq1m': '1 MiB sequential pread, cached 32 MiB file',
      'rand4kw': '4 KiB random pwrite, cached 32 MiB file, write-back (no target)'}
if a.filemib: WL = {k: v.replace('32 MiB', f'{a.filemib} MiB') for k, v in WL.items()}
summary = {}
for w in [w for w in WL if any(r['workload'] == w for r in ok)]:
    g = lambda ph, t, rd: by.get((ph, t, w, rd))
    s = {}
    for ph, t in (('A', 'zuf'), ('A', 'fuse'), (EP, 'ext4'), ('B', 'fuse')):
        s[f'{t}_{ph}_ops_per_s'] = summ([g(ph, t, rd)['ops_per_s'] for rd in rounds if g(ph, t, rd)])
        s[f'{t}_{ph}_mib_per_s'] = summ([g(ph, t, rd)['mib_per_s'] for rd in rounds if g(ph, t, rd)])
        s[f'{t}_{ph}_lat_us'] = summ([g(ph, t, rd)['lat_us'] for rd in rounds if g(ph, t, rd)])
        cs = [g(ph, t, rd)['counts'] for rd in rounds if g(ph, t, rd) and 'counts' in g(ph, t, rd)]
        for k in sorted({k for c in cs for k in c if k != 'mix_per_op'}):
            s[f'{t}_{ph}_{k}'] = summ([c.get(k) for c in cs])
        if cs and 'mix_per_op' in cs[-1]: s[f'{t}_{ph}_mix_per_op'] = cs[-1]['mix_per_op']
    pair = lambda x, y, px, py: summ([g(px, x, rd)['ops_per_s'] / g(py, y, rd)['ops_per_s'] for rd in rounds if g(px, x, rd) and g(py, y, rd)])
    s['zuf_over_fuse'] = pair('zuf', 'fuse', 'A', 'A')          # same round, same phase
    s['zuf_over_ext4'] = pair('zuf', 'ext4', 'A', EP)           # same round; or round r of phase A vs round r of phase B
    s['fuse_over_ext4'] = pair('fuse', 'ext4', EP, EP)
    s['fuse_drift_B_over_A'] = pair('fuse', 'fuse', 'B', 'A')
    summary[w] = s

def chk(name, s, key, want):
    v = s.get(key)
    return {'target': name, 'met': bool(v) and v['median'] >= want, 'detail': f"{fmt(v)} (want >= {want})"}
checks = [chk('4 KiB cached random read: zuf >= 5x FUSE', summary['rand4k'], 'zuf_over_fuse', 5),
          chk('4 KiB cached random read: zuf >= 0.5x ext4-dax', summary['rand4k'], 'zuf_over_ext4', 0.5),
          chk('1 MiB cached sequential read: zuf >= 0.7x ext4-dax', summary['seq1m'], 'zuf_over_ext4', 0.7)]

try: commit = subprocess.check_output(['git', 'rev-parse', '--short', 'HEAD'], text=True).strip()
except Exception: commit = '?'
env = {'date': datetime.datetime.utcnow().isoformat(timespec='seconds') + 'Z', 'commit': commit, 'guest_kernel': a.kver,
       'vm': 'qemu TCG, -smp 2, -m 4G, emulated DAX pmem (memmap=), -cpu max,-erms, init_on_alloc=0, one boot',
       'vm_rc': a.vmrc, 'secs_per_run': a.secs, 'rounds': rounds, 'command': a.cmd,
       'placement': 'reader (nioread.c) pinned to CPU 0; zufs serve (zuf), zufs mount --transport fuse and redis-server unpinned',
       'targets': {'zuf': 'zufs-redis, tiers t1 = /dev/pmem0 (NIO)', 'fuse': 'zufs-redis over FUSE, t1 = /dev/shm file of the same size',
                   'ext4': 'ext4 -o dax on /dev/pmem1, same rounds' if EP == 'A' else 'ext4 -o dax on /dev/pmem0 (mkfs after the zuf rounds)'},
       'notes': notes, 'failed_runs': failed}
json.dump({'environment': env, 'summary': summary, 'checks': checks, 'samples': ok}, open(a.out_json, 'w'), indent=1)

L = [f"# NIO cached reads and writes: zuf vs FUSE vs ext4-dax in one TCG guest ({env['date']}, commit {commit})", '',
     f"`{a.cmd}` — {env['vm']}; guest kernel {a.kver}; {len(rounds)} round(s) of {a.secs} s timed loops per target; "
     "median [min–max] over rounds. " + ("zuf, FUSE and ext4-dax (on /dev/pmem1) run in the same rounds, order rotating; ratios pair runs of one round. "
     if EP == 'A' else "Phase A interleaves zuf and FUSE, phase B (after umount of zuf and mkfs on pmem0) ext4-dax and FUSE; "
     "zuf÷FUSE pairs runs of the same round, zuf÷ext4 pairs round r of phase A with round r of phase B (see FUSE B÷A for the drift). ") + "Ratios > 1: zuf faster.", '',
     f"Placement: {env['placement']}.", '',
     '| workload | zuf MiB/s | FUSE MiB/s | ext4-dax MiB/s | zuf÷FUSE | zuf÷ext4 | FUSE÷ext4 | FUSE B÷A (drift) |',
     '|---|---|---|---|---|---|---|---|']
for w, s in summary.items():
    L.append(f"| {WL[w]} | {fmt(s['zuf_A_mib_per_s'], 1)} | {fmt(s['fuse_A_mib_per_s'], 1)} | {fmt(s[f'ext4_{EP}_mib_per_s'], 1)} | "
             f"{fmt(s['zuf_over_fuse'])} | {fmt(s['zuf_over_ext4'])} | {fmt(s['fuse_over_ext4'])} | {fmt(s['fuse_drift_B_over_A'])} |")
L += ['', '## Structural counts per op', '',
      '| workload | target | server round trips/op | kernel bytes copied/byte served (op buffer + t1) | t1 (to or from)/byte | cross_cpu/op | nio_pages_hit/op | request mix/op |',
      '|---|---|---|---|---|---|---|---|']
for w, s in summary.items():
    for t, ph in (('zuf', 'A'), ('fuse', 'A'), ('ext4', EP)):
        p = f'{t}_{ph}_'
        L.append(f"| {w} | {t} | {fmt(s.get(p + 'round_trips_per_op'), 3)} | "
                 f"{fmt(s.get(p + 'kernel_bytes_copied_per_byte'), 3) if t == 'zuf' else ('1 (pmem↔user, by construction)' if t == 'ext4' else 'not counted')} | "
                 f"{fmt(s.get(p + 't1_bytes_per_byte'), 3) if t == 'zuf' else '–'} | "
                 f"{fmt(s.get(p + 'cross_cpu_per_op'), 3) if t == 'zuf' else ('0 (no server)' if t == 'ext4' else 'not counted')} | "
                 f"{fmt(s.get(p + 'nio_pages_hit_per_op'), 2) if t == 'zuf' else '–'} | {json.dumps(s.get(p + 'mix_per_op')) if t == 'fuse' else '–'} |")
L += ['', '## Targets', '']
for c in checks: L.append(f"- {'MET' if c['met'] else 'NOT MET'}: {c['target']} — {c['detail']}")
if failed: L += ['', '## Failed runs', ''] + [f'- {f}' for f in failed]
L += ['', '## Guest log', '', '```'] + notes[-40:] + ['```', '']
open(a.out_md, 'w').write('\n'.join(L))
print('\n'.join(L))
