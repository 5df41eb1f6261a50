// Summarises bench/objects/run.sh's raw TSV: median and min–max per target and shape, ratios
// zufs ÷ s3fs and zufs ÷ rclone (as speed-ups: peer time ÷ zufs time, >1 = zufs faster), targets
// checked. Writes bench/results/objects-<date>.json and bench/results/objects-latest.md
// (unless OBJECTS_NO_WRITE=1) and prints the markdown.
import { readFileSync, writeFileSync } from 'node:fs';

const [raw, rounds, bigMib, smallN, listN, wall, rcloneVersion, s3fsVersion, commit] = process.argv.slice(2);
const rows = readFileSync(raw, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
  const [round, target, shape, ms, status, note] = l.split('\t');
  return { round: Number(round), target, shape, ms: ms === '' ? null : Number(ms), status, note };
});
const shapes = ['big_write', 'big_read', 'small_write', 'small_read', 'list'];
const label = {
  big_write: `${bigMib} MiB seq write`, big_read: `${bigMib} MiB seq read`,
  small_write: `${smallN} × 4 KiB write`, small_read: `${smallN} × 4 KiB read`, list: `ls -f of ${listN} objects`,
};
const med = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const stats = {};
for (const r of rows) {
  const k = `${r.target}|${r.shape}`;
  stats[k] ??= { target: r.target, shape: r.shape, ok: [], failures: [] };
  if (r.status === 'ok' && r.ms !== null) stats[k].ok.push(r.ms); else stats[k].failures.push(`round ${r.round}: ${r.note}`);
}
for (const s of Object.values(stats)) {
  s.median_ms = s.ok.length ? med(s.ok) : null; s.min_ms = s.ok.length ? Math.min(...s.ok) : null; s.max_ms = s.ok.length ? Math.max(...s.ok) : null;
}
const get = (t, sh) => stats[`${t}|${sh}`];
const fmt = (s, sh) => {
  if (!s || s.median_ms === null) return s?.failures.length ? `failed (${s.failures[0]})` : 'n/a';
  const sec = (x) => (x / 1000).toFixed(x < 10000 ? 2 : 1);
  const rate = sh.startsWith('big') ? ` (${(Number(bigMib) / (s.median_ms / 1000)).toFixed(1)} MiB/s)` : '';
  return `${sec(s.median_ms)} s${rate} [${sec(s.min_ms)}–${sec(s.max_ms)}]${s.failures.length ? ` + ${s.failures.length} failed` : ''}`;
};
// speed-up of zufs over a peer: peer median ÷ zufs median
const speedup = (z, p) => (z?.median_ms && p?.median_ms ? p.median_ms / z.median_ms : null);
const stores = [
  { store: 'S3 (MinIO)', zufs: 'zufs-s3', peers: [['s3fs', 's3fs-s3'], ['rclone', 'rclone-s3']] },
  { store: 'WebDAV (nginx)', zufs: 'zufs-webdav', peers: [['s3fs', null], ['rclone', 'rclone-webdav']] },
];
const ratios = [];
const lines = [];
lines.push(`Object-store mounts side by side (\`bash bench/objects/run.sh\`, commit ${commit}, ${new Date().toISOString().slice(0, 16)}Z).`);
lines.push(`${rounds} interleaved rounds, median [min–max] wall seconds, lower is better; "× s3fs" / "× rclone" = peer time ÷ zufs time (>1: zufs faster).`);
lines.push(`Peers: s3fs ${s3fsVersion} (Debian, defaults + use_path_request_style), ${rcloneVersion} (Debian) \`rclone mount --vfs-cache-mode writes --vfs-write-back 0s\`. Writes are timed until the mount is unmounted and its daemon has exited (all data in the store: rclone uploads after close); reads and listings on a fresh mount.`);
lines.push('');
lines.push('| store | shape | zufs native | s3fs | rclone | × s3fs (target ≥ 1.5; list ≥ 2) | × rclone (target ≥ 1.0; list ≥ 2) |');
lines.push('|---|---|---|---|---|---|---|');
for (const st of stores) {
  for (const sh of shapes) {
    const z = get(st.zufs, sh);
    const cells = [st.store, label[sh], fmt(z, sh)];
    const rs = [];
    for (const [name, t] of st.peers) {
      if (!t) { cells.push('no WebDAV support'); rs.push([name, null, null]); continue; }
      const p = get(t, sh); cells.push(fmt(p, sh));
      const need = sh === 'list' ? 2 : name === 's3fs' ? 1.5 : 1.0;
      rs.push([name, speedup(z, p), need]);
    }
    for (const [name, x, need] of rs) {
      if (need === null) { cells.push('—'); continue; }
      const met = x === null ? null : x >= need;
      cells.push(x === null ? 'n/a' : `${x.toFixed(2)}× ${met ? 'met' : 'MISSED'}`);
      ratios.push({ store: st.store, shape: sh, peer: name, speedup: x, target: need, met });
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
}
const met = ratios.filter((r) => r.met === true).length, missed = ratios.filter((r) => r.met === false).length;
lines.push('');
lines.push(`Targets met: ${met} of ${ratios.length}${missed ? `; missed: ${ratios.filter((r) => r.met === false).map((r) => `${r.store} ${label[r.shape]} vs ${r.peer} (${r.speedup.toFixed(2)}×)`).join(', ')}` : ''}${ratios.some((r) => r.met === null) ? `; not measurable: ${ratios.filter((r) => r.met === null).map((r) => `${r.store} ${label[r.shape]} vs ${r.peer}`).join(', ')}` : ''}. Total wall ${wall} s on a shared, noisy 2-core machine.`);
const md = lines.join('\n') + '\n';
process.stdout.write(md);
if (process.env.OBJECTS_NO_WRITE !== '1') {
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(`bench/results/objects-${date}.json`, JSON.stringify({
    date: new Date().toISOString(), commit, rounds: Number(rounds), big_mib: Number(bigMib), small_n: Number(smallN), list_n: Number(listN),
    wall_s: Number(wall), peers: { s3fs: s3fsVersion, rclone: rcloneVersion, rclone_mount_flags: '--vfs-cache-mode writes --vfs-write-back 0s' },
    method: 'writes timed to unmount + daemon exit; reads and ls -f on a fresh mount; MinIO and nginx WebDAV from test/servers on 127.0.0.1',
    stats: Object.values(stats), ratios, raw: rows,
  }, null, 2) + '\n');
  writeFileSync('bench/results/objects-latest.md', md);
}
