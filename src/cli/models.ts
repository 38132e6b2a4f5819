/** `lape models`: every variant with its parameter count and forward GFLOPs. */
import { Command } from 'commander';
import { listModels } from '../models/list.js';

export function modelsCommand(): Command {
  return new Command('models')
    .description('list the model variants with parameters and forward GFLOPs (LaPE join, learnable PE)')
    .option('--json', 'print JSON')
    .action((f: { json?: boolean }) => {
      const rows = listModels().map((m) => ({
        name: m.name,
        params: m.params,
        gflops: m.gflops,
        input: `${m.input.channels}x${m.input.size}x${m.input.size}`,
        description: m.description,
      }));
      if (f.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const w = Math.max(...rows.map((r) => r.name.length));
      process.stdout.write(
        `${'model'.padEnd(w)}  ${'params'.padStart(12)}  ${'GFLOPs'.padStart(8)}  input       description\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `${r.name.padEnd(w)}  ${r.params.toLocaleString('en').padStart(12)}  ${r.gflops.toFixed(3).padStart(8)}  ${r.input.padEnd(10)}  ${r.description}\n`,
        );
      }
    });
}
