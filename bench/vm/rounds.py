"""Summaries of per-round samples shared by bench/vm/report.py and report-nio.py: median and min–max."""
import statistics


def summ(xs):
    xs = [x for x in xs if x is not None]
    if not xs: return None
    return {'median': statistics.median(xs), 'min': min(xs), 'max': max(xs), 'n': len(xs)}


def fmt(s, d=2):
    if not s: return 'n/a'
    f = lambda v: f'{v:.{d}f}' if abs(v) < 1000 else f'{v:.3g}'
    return f"{f(s['median'])} [{f(s['min'])}–{f(s['max'])}]" if s['n'] > 1 else f(s['median'])
