#!/usr/bin/env python3
"""Turns the BENCH lines of bench/vm/guest-bench.sh into bench/results/zuf-<date>.json + zuf-latest.md."""
import argparse, json, sys, datetime, subprocess
from rounds import summ, fmt

ap = argparse.ArgumentParser()
ap.add_argument('raw'); ap.add_argument('out_json'); ap.add_argument('out_md')
ap.add_argument('--kver', default=''); ap.add_argument('--vmrc', default='')
ap.add_argument('--cmd', default=''); ap.add_argument('--secs', default='')
a = ap.parse_args()

runs, notes = [], []
for line in open(a.raw, errors='replace'):
    if line.startswith('BENCH '):
        try: runs.append(json.loads(line[6:]))
        except Exception as e: notes.append(f'unparsable line: {line[:120]!r}')
    elif line.startswith('#') or line.startswith('BENCH-ERROR'):
        notes.append(line.rstrip())

LABEL = {'getxattr': 'null op: fgetxattr of a missing name on an open fd (one round trip, no payload)',
         'fstat': 'fstat (FUSE: GETATTR null op; zuf: served from zus_inode)',
         'stat': 'stat(path), attr cache off on FUSE',
         'creat': 'create+unlink pair',
         'randread': '4 KiB random pread',
         'randwrite': '4 KiB random pwrite'}
IO = {'randread', 'randwrite'}

def derive(r):
    ops = sum(x['ops'] for x in r['load']); byts = sum(x['bytes'] for x in r['load'])
    r['ops'] = ops; r['bytes'] = byts
    r['ops_per_s'] = sum(x['ops_per_s'] for x in r['load'])
    r['direct'] = all(x.get('direct') for x in r['load']) if r['load'] else None
    if r.get('zuf_before') and r.get('zuf_after') and ops:
        d = [y - x for x, y in zip(r['zuf_before'], r['zuf_after'])]
        r['zuf'] = {'round_trips_per_op': d[0] / ops,
                    'bytes_copied': d[1] + d[2],
                    'bytes_copied_per_byte': (d[1] + d[2]) / byts if byts else None,
                    'bytes_copied_per_op': (d[1] + d[2]) / ops,
                    'cross_cpu_per_op': d[3] / ops, 'channel_waits_per_op': d[4] / ops,
                    'zi_getattr_per_op': d[5] / ops}
        ob, oa = r.get('zuf_ops_before') or {}, r.get('zuf_ops_after') or {}
        r['zuf']['mix_per_op'] = {k: round((oa[k] - ob.get(k, 0)) / ops, 3) for k in oa if oa[k] != ob.get(k, 0)}
    if r.get('fuse_after') is not None and r.get('fuse_before') is not None and ops:
        fb, fa = r['fuse_before'], r['fuse_after']
        mix = {k: (fa[k] - fb.get(k, 0)) / ops for k in fa if fa[k] != fb.get(k, 0)}
        r['fuse'] = {'requests_per_op': sum(mix.values()), 'mix_per_op': {k: round(v, 3) for k, v in mix.items()}}
    return r

runs = [derive(r) for r in runs if r.get('rc') == 0 and r.get('load') and r.get('round', 0) > 0]
by = {}
for r in runs: by[(r['target'], r['workload'], r['threads'], r['round'])] = r
rounds = sorted({r['round'] for r in runs})


rows, summary = [], {}
workloads = [w for w in ['getxattr', 'fstat', 'stat', 'creat', 'randread', 'randwrite'] if any(r['workload'] == w and r['threads'] == 1 for r in runs)]
for w in workloads:
    g = lambda t, rd, n=1: by.get((t, w, n, rd))
    s = {}
    for t in ('zuf', 'fuse', 'tmpfs'):
        s[t + '_ops_per_s'] = summ([g(t, rd)['ops_per_s'] for rd in rounds if g(t, rd)])
    s['zuf_over_fuse'] = summ([g('zuf', rd)['ops_per_s'] / g('fuse', rd)['ops_per_s'] for rd in rounds if g('zuf', rd) and g('fuse', rd)])
    s['zuf_over_tmpfs'] = summ([g('zuf', rd)['ops_per_s'] / g('tmpfs', rd)['ops_per_s'] for rd in rounds if g('zuf', rd) and g('tmpfs', rd)])
    zr = [g('zuf', rd)['zuf'] for rd in rounds if g('zuf', rd) and 'zuf' in g('zuf', rd)]
    for k in ('round_trips_per_op', 'bytes_copied_per_byte', 'bytes_copied_per_op', 'cross_cpu_per_op', 'channel_waits_per_op', 'zi_getattr_per_op'):
        s['zuf_' + k] = summ([z[k] for z in zr])
    s['zuf_mix_per_op'] = zr[-1]['mix_per_op'] if zr else None
    fr = [g('fuse', rd)['fuse'] for rd in rounds if g('fuse', rd) and 'fuse' in g('fuse', rd)]
    s['fuse_requests_per_op'] = summ([f['requests_per_op'] for f in fr])
    s['fuse_mix_per_op'] = fr[-1]['mix_per_op'] if fr else None
    s['direct_io'] = {t: g(t, rounds[-1])['direct'] for t in ('zuf', 'fuse', 'tmpfs') if g(t, rounds[-1])} if w in IO else None
    summary[w] = s

sweep = {}
for w in sorted({r['workload'] for r in runs if r['threads'] == 2}):
    sweep[w] = {}
    for t in ('zuf', 'fuse', 'tmpfs'):
        one = [by.get((t, w, 1, rd)) for rd in rounds]; two = [by.get((t, w, 2, rd)) for rd in rounds]
        sweep[w][t] = {'two_over_one': summ([b['ops_per_s'] / x['ops_per_s'] for x, b in zip(one, two) if x and b]),
                       'ops_per_s_2t': summ([b['ops_per_s'] for b in two if b])}
        zz = [b['zuf'] for b in two if b and 'zuf' in b]
        if zz:
            sweep[w][t]['round_trips_per_op'] = summ([z['round_trips_per_op'] for z in zz])
            sweep[w][t]['cross_cpu_per_op'] = summ([z['cross_cpu_per_op'] for z in zz])
            sweep[w][t]['channel_waits_per_op'] = summ([z['channel_waits_per_op'] for z in zz])
        ff = [b['fuse'] for b in two if b and 'fuse' in b]
        if ff: sweep[w][t]['requests_per_op'] = summ([f['requests_per_op'] for f in ff])

def chk(name, ok, detail): return {'target': name, 'met': ok, 'detail': detail}
checks = []
st = summary.get('stat', {})
if st.get('zuf_over_fuse'):
    checks.append(chk('stat through zuf >= 10x FUSE', st['zuf_over_fuse']['median'] >= 10, f"zuf/FUSE = {fmt(st['zuf_over_fuse'])}"))
cr = summary.get('creat', {})
if cr.get('zuf_round_trips_per_op') and cr.get('fuse_requests_per_op'):
    z, f = cr['zuf_round_trips_per_op']['median'], cr['fuse_requests_per_op']['median']
    checks.append(chk('create+unlink with <= half of FUSE round trips', z <= f / 2, f'zuf {z:.2f} vs FUSE {f:.2f} per pair'))
for w, sw in sweep.items():
    if sw['zuf'].get('two_over_one'):
        checks.append(chk(f'2 threads >= 1.8x one on zuf ({w})', sw['zuf']['two_over_one']['median'] >= 1.8, f"2T/1T = {fmt(sw['zuf']['two_over_one'])}"))

try: commit = subprocess.check_output(['git', 'rev-parse', '--short', 'HEAD'], text=True).strip()
except Exception: commit = '?'
env = {'date': datetime.datetime.utcnow().isoformat(timespec='seconds') + 'Z', 'commit': commit, 'guest_kernel': a.kver,
       'vm': 'qemu TCG, -smp 2, -m 2G, -cpu max,-erms, init_on_alloc=0, one boot', 'vm_rc': a.vmrc,
       'secs_per_run': a.secs, 'rounds': rounds, 'command': a.cmd,
       'placement': 'client process i pinned to CPU i (load -c); zuf server (zusd-vm.js, per-CPU ZT channels) and FUSE zusd (cli.js mount, default reader) unpinned; both in-memory backend',
       'notes': notes}
json.dump({'environment': env, 'summary': summary, 'sweep': sweep, 'checks': checks, 'samples': runs}, open(a.out_json, 'w'), indent=1)

L = [f"# zuf vs FUSE vs tmpfs in one TCG guest ({env['date']}, commit {commit})", '',
     f"`{a.cmd}` — {env['vm']}; guest kernel {a.kver}; {len(rounds)} interleaved round(s) of {a.secs} s timed loops; "
     "median [min–max] over rounds. Ratios are throughput ratios paired within a round (>1 = zuf faster). "
     "Structural counts come from `/sys/fs/zuf/stats` deltas (zuf) and zusd's control-socket per-mount op counters (FUSE).", '',
     f"Placement: {env['placement']}.", '',
     '| workload | zuf ops/s | FUSE ops/s | tmpfs ops/s | zuf÷FUSE | zuf÷tmpfs | zuf round trips/op | zuf bytes copied/byte (/op) | zuf cross_cpu/op | FUSE requests/op |',
     '|---|---|---|---|---|---|---|---|---|---|']
for w, s in summary.items():
    bc = fmt(s['zuf_bytes_copied_per_byte']) if w in IO else f"({fmt(s['zuf_bytes_copied_per_op'], 0)} B/op)"
    L.append(f"| {LABEL[w]} | {fmt(s['zuf_ops_per_s'], 0)} | {fmt(s['fuse_ops_per_s'], 0)} | {fmt(s['tmpfs_ops_per_s'], 0)} | "
             f"{fmt(s['zuf_over_fuse'])} | {fmt(s['zuf_over_tmpfs'])} | {fmt(s['zuf_round_trips_per_op'])} | {bc} | "
             f"{fmt(s['zuf_cross_cpu_per_op'])} | {fmt(s['fuse_requests_per_op'])} |")
L += ['', '## 1 → 2 client threads (processes pinned to CPU 0 and CPU 1, one file each)', '',
      '| workload | target | 2T÷1T throughput | 2T ops/s | round trips (zuf) / requests (FUSE) per op | zuf cross_cpu/op | zuf channel_waits/op |', '|---|---|---|---|---|---|---|']
for w, sw in sweep.items():
    for t, v in sw.items():
        L.append(f"| {LABEL.get(w, w)} | {t} | {fmt(v['two_over_one'])} | {fmt(v['ops_per_s_2t'], 0)} | "
                 f"{fmt(v.get('round_trips_per_op') or v.get('requests_per_op'))} | {fmt(v.get('cross_cpu_per_op'))} | {fmt(v.get('channel_waits_per_op'))} |")
L += ['', '## Per-op request mix (last round)', '']
for w, s in summary.items():
    L.append(f"- {w}: zuf {json.dumps(s['zuf_mix_per_op'])}; FUSE {json.dumps(s['fuse_mix_per_op'])}" + (f"; O_DIRECT {json.dumps(s['direct_io'])}" if s['direct_io'] else ''))
L += ['', '## Targets', '']
for c in checks: L.append(f"- {'MET' if c['met'] else 'NOT MET'}: {c['target']} — {c['detail']}")
missing = [w for w in ['getxattr', 'fstat', 'stat', 'creat', 'randread', 'randwrite'] if w not in summary]
if missing: L.append(f"- workloads that did not run: {', '.join(missing)}")
L += ['', '## Guest log', '', '```'] + notes[-40:] + ['```', '']
open(a.out_md, 'w').write('\n'.join(L))
print('\n'.join(L))
