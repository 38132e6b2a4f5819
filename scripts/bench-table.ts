/**
 * `npm run bench:table [FILE]`: rewrites the README's speed section (between the bench markers) from a
 * benchmark record: FILE, or by default the newest full (non --quick) record in docs/bench/.
 * `--check` changes nothing and fails when README.md is not what the record renders to.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newestResult, readResult, renderSection, replaceSection } from './bench-report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const check = args.includes('--check');
const allowQuick = args.includes('--allow-quick');
const fileArg = args.find((a) => !a.startsWith('--'));

let found = newestResult(join(root, 'docs', 'bench'));
if (fileArg) {
  const path = isAbsolute(fileArg) ? fileArg : join(process.cwd(), fileArg);
  const result = readResult(path);
  if (result.quick && !allowQuick) {
    process.stderr.write(`${fileArg} is a --quick run: not for the README (pass --allow-quick to preview)\n`);
    process.exit(1);
  }
  found = { file: path, result };
}
const section = renderSection(found && { ...found, file: relative(root, found.file) });
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const next = replaceSection(readme, section);
if (check) {
  if (next !== readme) {
    process.stderr.write('README.md speed section is out of date: run `npm run bench:table`\n');
    process.exit(1);
  }
  process.stderr.write('README.md speed section matches the benchmark record\n');
} else {
  writeFileSync(readmePath, next);
  process.stderr.write(
    found ? `README.md: speed section from ${relative(root, found.file)}\n` : 'README.md: no record yet\n',
  );
}
