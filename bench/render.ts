// Prints the tables of a saved run again: node bench/render.ts bench/results/<timestamp>.json
import { readFileSync } from 'node:fs';
import { renderReport, type Results } from './lib/report.ts';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node bench/render.ts bench/results/<timestamp>.json\n');
  process.exit(2);
}
const saved = JSON.parse(readFileSync(file, 'utf8')) as Results & { startedAt?: string; commit?: string };
process.stdout.write(`${saved.startedAt ?? '?'} (commit ${saved.commit ?? '?'})\n\n${renderReport(saved)}\n`);
