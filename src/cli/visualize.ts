/**
 * `lape visualize` and `lape compare-pe`: position-correlation maps per layer as figures (PNG, JPEG,
 * SVG or PDF), `.npy` and a self-contained HTML report (the reference's similarity_visualize.py,
 * without its fixed 14x14 grid, token 90 and LayerNorm eps; `--reference-layout` writes its files).
 * The model is resolved from the checkpoint and the same model flags as every command.
 */
import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { referenceModelName } from '../checkpoint/model_config.js';
import { argString } from '../checkpoint/facts.js';
import type { Checkpoint } from '../checkpoint/read.js';
import { parseLog } from '../viz/data.js';
import { FIGURE_FORMATS, type FigureFormat } from '../viz/figure.js';
import { visualizationData } from '../viz/from_model.js';
import { writeComparison } from '../viz/compare.js';
import { writeReferenceLayout } from '../viz/reference_layout.js';
import { writeVisualization } from '../viz/write.js';
import { openCheckpointForCli } from './checkpoint_model.js';
import { addModelFlags, modelRequest, type InputFlags } from './model_flags.js';
import { choice, int, JOIN_CHOICES, num, type ModelFlags } from './options.js';
import type { VitConfig } from '../models/config.js';
import type { ModelOverrides } from '../models/registry.js';

interface FigureFlags {
  range?: [number, number] | 'auto';
  format?: FigureFormat;
  dpi: number;
  axes?: boolean;
  token?: number;
  progress: boolean;
}

interface VizFlags extends ModelFlags, InputFlags, FigureFlags {
  ckptPath?: string;
  saveDir?: string;
  modelName?: string;
  log?: string;
  label?: string;
  referenceLayout?: boolean;
}

/** `--range 0,1` (or `0 1` via two values is not supported: one token) or `auto`. */
function parseRange(v: string): [number, number] | 'auto' {
  if (v === 'auto') return 'auto';
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1]))
    throw new InvalidArgumentError(
      `--range expects 'auto' or MIN,MAX with MIN < MAX (e.g. 0,1 or -1,1), got '${v}'`,
    );
  return [parts[0], parts[1]];
}

function addFigureFlags(cmd: Command): Command {
  return cmd
    .option(
      '--token <n>',
      'patch whose maps are drawn (row-major; default: the centre patch)',
      int('--token', 0),
    )
    .option(
      '--range <min,max>',
      "colour range of the similarity maps: 'auto' (each map's min..max) or MIN,MAX",
      parseRange,
    )
    .option(
      '--format <fmt>',
      `figure format: ${FIGURE_FORMATS.join(', ')} (svg and pdf are vector)`,
      choice('--format', FIGURE_FORMATS),
    )
    .option(
      '--dpi <n>',
      'resolution of png/jpg figures (96: one figure pixel per image pixel)',
      num('--dpi', 1, 2400),
      96,
    )
    .option('--axes', 'row and column axes with patch indices on every map')
    .option(
      '--amp',
      'accepted as on the other commands; the maps come from layer norms and additions only (no GEMM), so they are float32 either way',
    )
    .option('--no-progress', 'no download progress bar');
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

/**
 * A name for a checkpoint in titles and labels: its file name, with its folder when the file name says
 * nothing by itself (`runs/fm-lape/checkpoint.pth` -> `fm-lape/checkpoint.pth`).
 */
export function checkpointLabel(spec: string): string {
  const name = basename(spec.replace(/[?#].*$/, ''));
  const generic = /^(best_)?checkpoint(-\d+)?\.(pth|pt|safetensors)$|^model(_ema)?\.(pth|safetensors)$/i.test(
    name,
  );
  const parent = basename(dirname(spec));
  return generic && parent && parent !== '.' && parent !== '/' ? `${parent}/${name}` : name;
}

const rangeOf = (r: FigureFlags['range']): [number, number] | undefined =>
  r === undefined || r === 'auto' ? undefined : r;

export function visualizeCommand(): Command {
  const cmd = new Command('visualize').description(
    'per-layer position-embedding similarity maps (figures, .npy, report.html)',
  );
  addModelFlags(cmd)
    .option(
      '--ckpt-path <ckpt>',
      'checkpoint: lape or reference .pth, .safetensors, or an https URL (also --ckpt_path)',
    )
    .option('--save-dir <dir>', 'output folder (also --save_dir)')
    .option(
      '--model-name <name>',
      "the reference visualizer's --model_name (deit_t_LaPE, ...): model hint and folder name (also --model_name)",
    )
    .option('--log <log.txt>', 'training log.txt to chart in the report')
    .option(
      '--label <text>',
      'the name of the run in titles and the report (default: the checkpoint file, with its folder)',
    )
    .option(
      '--reference-layout',
      "write the reference's files instead: <save-dir>/<model name>/<join>_layer<L>_sim_overall.jpg, ..._sim_90thToken.jpg, PE_token_sim.jpg; range 0..1",
    );
  addFigureFlags(cmd).action(async (f: VizFlags) => {
    const spec = f.ckptPath;
    const dir = f.saveDir;
    if (!spec) throw new Error('--ckpt-path is required');
    if (!dir) throw new Error('--save-dir is required');
    const t0 = performance.now();
    const ckpt = await openCheckpointForCli(spec, f.progress);
    const { model, resolved } = modelFromCheckpoint(ckpt, modelRequest({ ...f, model_name: f.modelName }));
    const label = f.label ?? checkpointLabel(spec);
    const data = visualizationData(model, {
      title: label,
      modelName: resolved.name,
      token: f.referenceLayout ? undefined : f.token,
      log: readLog(f.log),
    });
    model.dispose();
    let files: string[];
    let where = dir;
    if (f.referenceLayout) {
      const join = joinName(ckpt, resolved.config);
      const modelName = f.modelName ?? referenceModelName(resolved.name, join);
      where = `${dir}/${modelName}`;
      files = await writeReferenceLayout(dir, data, {
        modelName,
        join,
        token: f.token,
        range: f.range === 'auto' ? undefined : f.range,
        format: f.format,
        dpi: f.dpi,
        axes: f.axes,
      });
      if (f.range === 'auto')
        process.stderr.write(
          'note: --range auto is ignored with --reference-layout (0..1, as the reference)\n',
        );
    } else {
      files = await writeVisualization(dir, data, {
        similarityRange: rangeOf(f.range),
        format: f.format,
        dpi: f.dpi,
        axes: f.axes,
      });
    }
    process.stderr.write(
      `wrote ${files.length} files to ${where} in ${((performance.now() - t0) / 1000).toFixed(1)} s${f.referenceLayout ? '' : ` (report: ${dir}/report.html)`}\n`,
    );
  });
  return cmd;
}

/** The join in reference file names: the reference's args.join_type when recorded, else the model's. */
function joinName(ckpt: Checkpoint, cfg: VitConfig): string {
  const own = cfg.pe.kind === 'none' && cfg.rpe.kind === '2D' ? cfg.rpe.join : cfg.join;
  return argString(ckpt.facts.args, 'join_type') ?? own;
}

interface CompareFlags extends ModelFlags, InputFlags, FigureFlags {
  saveDir: string;
  joinA?: ModelOverrides['join'];
  joinB?: ModelOverrides['join'];
  labels?: string[];
}

export function comparePeCommand(): Command {
  const cmd = new Command('compare-pe')
    .description('the same maps for two checkpoints side by side (e.g. basic vs LaPE)')
    .argument('<ckptA>', 'first checkpoint')
    .argument('<ckptB>', 'second checkpoint');
  addModelFlags(cmd)
    .requiredOption('--save-dir <dir>', 'output folder (also --save_dir)')
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
    .option(
      '--labels <names...>',
      'names of the two runs in the figures and the report (default: file names, with their folders)',
    );
  addFigureFlags(cmd).action(async (a: string, b: string, f: CompareFlags) => {
    if (f.labels && f.labels.length !== 2)
      throw new Error(`--labels expects two names, got ${f.labels.length}`);
    const base = modelRequest(f);
    const load = async (spec: string, join: ModelOverrides['join']) => {
      const { model, resolved } = modelFromCheckpoint(await openCheckpointForCli(spec, f.progress), {
        ...base,
        overrides: { ...base.overrides, join: join ?? base.overrides.join },
      });
      const data = visualizationData(model, {
        title: checkpointLabel(spec),
        modelName: resolved.name,
        token: f.token,
      });
      model.dispose();
      return data;
    };
    const da = await load(a, f.joinA);
    const db = await load(b, f.joinB);
    let labels: [string, string];
    if (f.labels) labels = [f.labels[0], f.labels[1]];
    else {
      const [la, lb] = [checkpointLabel(a), checkpointLabel(b)];
      labels = la !== lb ? [la, lb] : [`${la} (${da.join})`, `${lb} (${db.join})`];
    }
    const files = await writeComparison(f.saveDir, da, db, {
      labels,
      similarityRange: rangeOf(f.range),
      format: f.format,
      dpi: f.dpi,
      axes: f.axes,
    });
    process.stderr.write(`wrote ${files.length} files to ${f.saveDir}\n`);
  });
  return cmd;
}
