// Renders the markdown tables of a stored benchmark record again, without re-running it:
// node dist/bench/render.js bench/results/<name>.json [out.md]   (default: stdout)
import { readFileSync, writeFileSync } from 'node:fs';
import { renderRecord, type BenchRecord } from './lib/report.js';

const [file, out] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node dist/bench/render.js bench/results/<name>.json [out.md]\n');
  process.exit(2);
}
const md = renderRecord(JSON.parse(readFileSync(file, 'utf8')) as BenchRecord);
if (out) writeFileSync(out, md);
else process.stdout.write(md);
