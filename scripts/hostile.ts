// Writes the audit's hostile files (see test/hostile/attacks.ts) into a folder, to try by hand:
//   npm run hostile -- DIR      then e.g.  lape predict --resume DIR/stride0-1g.pth ...
import { join } from 'node:path';
import { writeAttacks } from '../test/hostile/attacks.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: npm run hostile -- DIR\n');
  process.exit(1);
}
for (const a of await writeAttacks(dir)) process.stdout.write(`${join(dir, a.name)}\n    ${a.about}\n`);
