/**
 * `lape visualize` and `lape compare-pe`: position-correlation maps per layer as PNGs, `.npy` and a
 * self-contained HTML report (the reference's similarity_visualize.py, without its fixed 14x14 grid,
 * token 90 and LayerNorm eps).
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseLog } from '../viz/data.js';
import { visualizationData } from '../viz/from_model.js';
import { writeComparison } from '../viz/compare.js';
import { writeVisualization } from '../viz/write.js';
import { modelFromCheckpoint } from './checkpoint_model.js';
import { choice, int, JOIN_CHOICES, PE_CHOICES } from './options.js';
import type { ModelOverrides } from '../models/registry.js';

interface VizFlags {
  ckptPath?: string;
  ckpt_path?: string;
  saveDir?: string;
  save_dir?: string;
  model?: string;
  model_name?: string;
  pe?: ModelOverrides['pe'];
  joinType?: ModelOverrides['join'];
  token?: number;
  log?: string;
}

function overridesOf(f: { pe?: ModelOverrides['pe']; joinType?: ModelOverrides['join'] }): ModelOverrides {
  return { pe: f.pe, join: f.joinType };
}

function readLog(path: string | undefined) {
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`--log ${path}: cannot read it (${(e as Error).message})`);
  }
  return parseLog(text);
}

export function visualizeCommand(): Command {
  return new Command('visualize')
    .description('per-layer position-embedding similarity maps (PNG, .npy, report.html)')
    .option('--ckpt-path <ckpt>', 'checkpoint (lape or reference .pth)')
    .option('--ckpt_path <ckpt>', 'same as --ckpt-path (reference spelling)')
    .option('--save-dir <dir>', 'output folder')
    .option('--save_dir <dir>', 'same as --save-dir (reference spelling)')
    .option('--model <name>', 'model variant (default: from the checkpoint)')
    .option('--model_name <name>', 'reference spelling: deit_t_LaPE, deit_s_basic, ... or a lape variant')
    .option('--pe <type>', `position embedding: ${PE_CHOICES.join(', ')}`, choice('--pe', PE_CHOICES))
    .option('--join-type <join>', `join: ${JOIN_CHOICES.join(', ')}`, choice('--join-type', JOIN_CHOICES))
    .option(
      '--token <n>',
      'patch whose maps are drawn (row-major; default: the centre patch)',
      int('--token', 0),
    )
    .option('--log <log.txt>', 'training log.txt to chart in the report')
    .option(
      '--amp',
      'accepted as on the other commands; the maps come from layer norms and additions only (no GEMM), so they are float32 either way',
    )
    .action(async (f: VizFlags) => {
      const ckpt = f.ckptPath ?? f.ckpt_path;
      const dir = f.saveDir ?? f.save_dir;
      if (!ckpt) throw new Error('--ckpt-path is required');
      if (!dir) throw new Error('--save-dir is required');
      const t0 = performance.now();
      const { model, name } = modelFromCheckpoint(ckpt, f.model ?? f.model_name, overridesOf(f));
      const data = visualizationData(model, {
        title: basename(ckpt),
        modelName: name,
        token: f.token,
        log: readLog(f.log),
      });
      const files = await writeVisualization(dir, data);
      process.stderr.write(
        `wrote ${files.length} files to ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s (report: ${dir}/report.html)\n`,
      );
    });
}

interface CompareFlags {
  saveDir: string;
  model?: string;
  pe?: ModelOverrides['pe'];
  joinA?: ModelOverrides['join'];
  joinB?: ModelOverrides['join'];
  token?: number;
}

export function comparePeCommand(): Command {
  return new Command('compare-pe')
    .description('the same maps for two checkpoints side by side (e.g. basic vs LaPE)')
    .argument('<ckptA>', 'first checkpoint')
    .argument('<ckptB>', 'second checkpoint')
    .requiredOption('--save-dir <dir>', 'output folder')
    .option('--model <name>', 'model variant of both (default: from each checkpoint)')
    .option('--pe <type>', 'position embedding of both', choice('--pe', PE_CHOICES))
    .option(
      '--join-a <join>',
      'join of the first (default: from the checkpoint)',
      choice('--join-a', JOIN_CHOICES),
    )
    .option(
      '--join-b <join>',
      'join of the second (default: from the checkpoint)',
      choice('--join-b', JOIN_CHOICES),
    )
    .option('--token <n>', 'patch whose maps are drawn (default: the centre patch)', int('--token', 0))
    .action(async (a: string, b: string, f: CompareFlags) => {
      const ma = modelFromCheckpoint(a, f.model, { pe: f.pe, join: f.joinA });
      const mb = modelFromCheckpoint(b, f.model, { pe: f.pe, join: f.joinB });
      const da = visualizationData(ma.model, { title: basename(a), modelName: ma.name, token: f.token });
      const db = visualizationData(mb.model, { title: basename(b), modelName: mb.name, token: f.token });
      const files = await writeComparison(f.saveDir, da, db, {
        labels: [`${basename(a)} (${da.join})`, `${basename(b)} (${db.join})`],
      });
      process.stderr.write(`wrote ${files.length} files to ${f.saveDir}\n`);
    });
}
