/**
 * `lape study`: the study file's validation (each error names the file and the entry), Student's t
 * quantile, the summary's statistics on hand-made result.json files (numbers checked by hand), and a
 * real end-to-end mini study on a tiny image folder: 8 runs, results.md, skipping, resuming, a
 * diverged run kept as failed, and refusal to mix runs made with other settings.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { main } from '../../src/cli/index.js';
import {
  loadStudyConfig,
  parseStudyConfig,
  trainConfigFor,
  type StudyConfig,
} from '../../src/study/config.js';
import { machineInfo, type RunRecord } from '../../src/study/result.js';
import { parseOnly, runStudy } from '../../src/study/run.js';
import { logGamma, regularizedIncompleteBeta, studentTCdf, studentTQuantile } from '../../src/study/stats.js';
import { summarize } from '../../src/study/summary.js';
import { makeImageFolder } from '../train/helpers.js';

const close = (actual: number | null | undefined, expected: number, tol = 1e-9, what = ''): void => {
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what} ${actual} != ${expected}`,
  );
};

const validStudy = () => ({
  name: 'check',
  description: 'validation fixture',
  dataset: { kind: 'fashion-mnist' },
  model: 'lape_fmnist',
  modelOverrides: { depth: 2 },
  train: {
    epochs: 2,
    batchSize: 64,
    lr: 1e-3,
    unscaleLr: true,
    mixup: 0,
    cutmix: 0,
    aa: 'none',
    modelEma: false,
  },
  grid: { pe: ['learnable', '1D_sin', '2D_sin'], join: ['basic', 'share', 'LaPE'], seeds: [0, 1, 2] },
});

type StudyJson = ReturnType<typeof validStudy> & Record<string, unknown>;

/** Writes a variant of the valid study to a file and returns the error `loadStudyConfig` throws. */
function errorFor(edit: (s: StudyJson) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'lape-study-cfg-'));
  const file = join(dir, 'x.json');
  const s = validStudy() as StudyJson;
  edit(s);
  writeFileSync(file, JSON.stringify(s));
  try {
    loadStudyConfig(file);
  } catch (e) {
    const msg = (e as Error).message;
    assert.ok(msg.startsWith(`${file}: `), `message names the file: ${msg}`);
    return msg.slice(file.length + 2);
  }
  assert.fail('expected the study file to be refused');
}

describe('study config validation', () => {
  it('accepts the valid study and maps it onto lape train defaults', () => {
    const cfg = parseStudyConfig(validStudy(), 'x.json');
    const t = trainConfigFor(cfg, { pe: '2D_sin', join: 'LaPE', seed: 2 }, 'out/2D_sin_LaPE_s2');
    assert.equal(t.model, 'lape_fmnist');
    assert.deepEqual(t.modelOverrides, { dropPathRate: 0.1, depth: 2, pe: '2D_sin', join: 'LaPE' });
    assert.equal(t.seed, 2);
    assert.equal(t.epochs, 2);
    assert.equal(t.batchSize, 64);
    assert.deepEqual(t.optimizer, {
      kind: 'adamw',
      lr: 1e-3,
      weightDecay: 0.05,
      eps: 1e-8,
      betas: [0.9, 0.999],
    });
    assert.equal(t.unscaleLr, true);
    assert.equal(t.augment.autoAugment, null);
    assert.equal(t.ema, null);
    assert.deepEqual(t.mixup, { mixup: 0, cutmix: 0, prob: 1, switchProb: 0.5 });
    // Not in the file: lape train's defaults.
    assert.equal(t.augment.reprob, 0.25);
    assert.deepEqual(t.criterion, { kind: 'cross-entropy', smoothing: 0.1 });
    assert.equal(t.outputDir, 'out/2D_sin_LaPE_s2');
  });

  it('names a bad position embedding by its grid index', () => {
    assert.equal(
      errorFor((s) => (s.grid.pe[2] = 'foo')),
      "grid.pe[2] 'foo' is not a position embedding (valid: learnable, 1D_sin, 2D_sin, none, 2D_RPE)",
    );
    assert.match(
      errorFor((s) => (s.grid.join[1] = 'lape')),
      /^grid\.join\[1\] 'lape' is not a join method \(valid: basic, share, unshare, LaPE, LaPE-shared, LN\)$/,
    );
    assert.match(
      errorFor((s) => (s.grid.seeds = [0, 1, 0])),
      /^grid\.seeds\[2\] 0 repeats grid\.seeds\[0\]$/,
    );
    assert.match(
      errorFor((s) => (s.grid.seeds = [])),
      /^grid\.seeds must be a non-empty array/,
    );
  });

  it('names an unknown model and dataset kind, listing the valid ones', () => {
    assert.match(
      errorFor((s) => (s.model = 'vit_huge')),
      /^model 'vit_huge' is not a model \(valid: .*lape_fmnist/,
    );
    assert.match(
      errorFor((s) => (s.dataset = { kind: 'imagenet' })),
      /^dataset\.kind 'imagenet' is not a dataset kind \(valid: fashion-mnist, mnist, cifar10, cifar100, image-folder\)$/,
    );
    assert.match(
      errorFor((s) => (s.dataset = { kind: 'cifar10' })),
      /^dataset\.path is required for dataset\.kind 'cifar10'$/,
    );
  });

  it('lets the model registry refuse an impossible pe/join pair, naming the grid point', () => {
    assert.match(
      errorFor((s) => (s.grid.pe = ['learnable', '2D_RPE'])),
      /^grid point pe '2D_RPE' x join 'share' with model 'lape_fmnist': pe '2D_RPE' joins with 'basic' or 'LN', got 'share'$/,
    );
    assert.match(
      errorFor((s) => (s.grid.pe = ['none'])),
      /^grid point pe 'none' x join 'share' .*pe 'none' has nothing to join/,
    );
    assert.match(
      errorFor((s) => (s.grid.join = ['basic', 'LN'])),
      /^grid point pe 'learnable' x join 'LN' .*LN only with pe 2D_RPE/,
    );
    assert.match(
      errorFor((s) => ((s.modelOverrides as Record<string, unknown>).embedDim = 30)),
      /^grid point pe 'learnable' x join 'basic' .*embedDim 30 is not divisible by numHeads 4/,
    );
  });

  it('refuses unknown or misplaced keys in train and modelOverrides, and bad values', () => {
    assert.match(
      errorFor((s) => ((s.train as Record<string, unknown>).lrr = 1)),
      /^train\.lrr is not a known key \(valid: epochs, batchSize, .*\)$/,
    );
    assert.match(
      errorFor((s) => ((s.train as Record<string, unknown>).seed = 1)),
      /^train\.seed is not allowed here: seeds come from grid\.seeds$/,
    );
    assert.match(
      errorFor((s) => (s.train.epochs = 0)),
      /^train\.epochs must be an integer >= 1, got 0$/,
    );
    assert.match(
      errorFor((s) => ((s.train as Record<string, unknown>).modelEma = 'yes')),
      /^train\.modelEma must be true or false, got 'yes'$/,
    );
    assert.match(
      errorFor((s) => (s.train.aa = 'rand-zz')),
      /^train\.aa: .*'zz'/,
    );
    assert.match(
      errorFor((s) => ((s.modelOverrides as Record<string, unknown>).pe = '2D_sin')),
      /^modelOverrides\.pe is not allowed here/,
    );
    assert.match(
      errorFor((s) => ((s.modelOverrides as Record<string, unknown>).depht = 3)),
      /^modelOverrides\.depht is not a known key/,
    );
    assert.match(
      errorFor((s) => (s.extra = 1)),
      /^study\.extra is not a known key/,
    );
  });

  it('accepts every checked-in study and recipe', () => {
    const files = [
      'studies/fmnist.json',
      ...readdirSync('studies/recipes').map((f) => join('studies/recipes', f)),
    ];
    assert.ok(files.length >= 8, files.join(', '));
    for (const f of files) {
      const cfg = loadStudyConfig(f);
      assert.ok(cfg.grid.join.includes('basic'), f);
    }
    const fm = loadStudyConfig('studies/fmnist.json');
    assert.equal(fm.grid.pe.length * fm.grid.join.length * fm.grid.seeds.length, 27);
  });

  it('parses --only against the grid', () => {
    const cfg = parseStudyConfig(validStudy(), 'x.json');
    assert.deepEqual(parseOnly('pe=learnable,join=LaPE,pe=2D_sin,seed=1', cfg), {
      pe: ['learnable', '2D_sin'],
      join: ['LaPE'],
      seeds: [1],
    });
    assert.throws(() => parseOnly('pe=none', cfg), /--only pe=none: not in grid\.pe of x\.json/);
    assert.throws(() => parseOnly('model=x', cfg), /unknown key 'model'/);
  });
});

describe('Student t', () => {
  it('has the tabulated 97.5% quantiles', () => {
    close(Number(studentTQuantile(0.975, 2).toFixed(3)), 4.303);
    close(Number(studentTQuantile(0.975, 4).toFixed(3)), 2.776);
    close(Number(studentTQuantile(0.975, 10).toFixed(3)), 2.228);
    close(Number(studentTQuantile(0.975, 1).toFixed(3)), 12.706);
    // To full precision (values from scipy.stats.t.ppf), fractional df included, and both tails.
    close(studentTQuantile(0.975, 2), 4.302652729749462, 1e-10);
    close(studentTQuantile(0.975, 4), 2.7764451051977934, 1e-10);
    close(studentTQuantile(0.975, 10), 2.228138851986274, 1e-10);
    close(studentTQuantile(0.95, 30), 1.697260886593957, 1e-10);
    close(studentTQuantile(0.975, 2.5), 3.5746548420036817, 1e-10);
    close(studentTQuantile(0.9, 7), 1.4149239276505086, 1e-10);
    close(studentTQuantile(0.025, 4), -2.7764451051977934, 1e-10);
    close(studentTQuantile(0.975, 1e6), 1.959966356814107, 1e-6);
    assert.equal(studentTQuantile(0.5, 3), 0);
  });

  it('has a CDF consistent with its pieces', () => {
    close(studentTCdf(1.5, 3), 0.8847080673775886, 1e-12);
    close(studentTCdf(-1.5, 3), 1 - 0.8847080673775886, 1e-12);
    close(studentTCdf(0, 5), 0.5, 1e-15);
    close(logGamma(5), Math.log(24), 1e-13);
    close(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-13);
    // I_x(1, 1) = x and I_x(a, b) = 1 - I_{1-x}(b, a).
    close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-13);
    close(regularizedIncompleteBeta(0.2, 2.5, 0.5) + regularizedIncompleteBeta(0.8, 0.5, 2.5), 1, 1e-13);
  });
});

/** A result.json as a run writes it. */
function record(pe: string, join: string, seed: number, acc1: number | 'failed'): RunRecord {
  const base = {
    pe,
    join,
    seed,
    epochs: 2,
    params: join === 'LaPE' ? 1100 : 1000,
    images_per_s: 100 + seed,
    wall_s: 60,
    resumed: false,
    finished_at: '2026-01-01T00:00:00.000Z',
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      memory_bytes: 2 ** 33,
      os: 'linux',
      node: 'v20.0.0',
      backend: 'js',
    },
  } as const;
  return acc1 === 'failed'
    ? {
        ...base,
        pe: pe as RunRecord['pe'],
        join: join as RunRecord['join'],
        status: 'failed',
        error: 'training diverged: loss is NaN at epoch 1, step 3; the last good checkpoint was kept',
      }
    : {
        ...base,
        pe: pe as RunRecord['pe'],
        join: join as RunRecord['join'],
        status: 'completed',
        acc1,
        acc5: acc1 + 10,
        loss: 0.5,
        images: 1000,
        max_acc1: acc1,
      };
}

describe('summary', () => {
  it('computes mean ± sample std and Welch intervals from result.json files', () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-study-sum-'));
    const config: StudyConfig = parseStudyConfig(
      {
        ...validStudy(),
        name: 'hand',
        grid: { pe: ['learnable', '2D_sin'], join: ['basic', 'share', 'LaPE'], seeds: [0, 1, 2] },
      },
      'studies/hand.json',
    );
    const acc: Record<string, (number | 'failed' | null)[]> = {
      learnable_basic: [80, 82, 84],
      learnable_share: [81, 83, 'failed'],
      learnable_LaPE: [86, 87, 88],
      '2D_sin_basic': [90, 91, 92],
      '2D_sin_share': [88, null, null],
      '2D_sin_LaPE': [85, 86, 87],
    };
    for (const [group, values] of Object.entries(acc)) {
      const [pe, joinKind] = group.startsWith('2D_sin')
        ? ['2D_sin', group.slice(7)]
        : ['learnable', group.slice(10)];
      values.forEach((v, seed) => {
        if (v === null) return;
        const dir = join(out, `${group}_s${seed}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'result.json'), JSON.stringify(record(pe, joinKind, seed, v)));
      });
    }
    const s = summarize(out, config, {
      command: 'lape study studies/hand.json',
      date: new Date('2026-02-03T04:05:06Z'),
    });
    const g = (pe: string, j: string) => s.groups.find((x) => x.pe === pe && x.join === j)!;
    const c = (pe: string, j: string) => s.comparisons.find((x) => x.pe === pe && x.join === j)!;

    // learnable/basic: 80, 82, 84 -> mean 82, sample std sqrt(((-2)² + 0 + 2²) / 2) = 2.
    close(g('learnable', 'basic').acc1Mean, 82);
    close(g('learnable', 'basic').acc1Std, 2);
    close(g('learnable', 'basic').acc5Mean, 92);
    close(g('learnable', 'basic').imagesPerSMean, 101);
    assert.equal(g('learnable', 'basic').wallSTotal, 180);
    // share: the failed seed is counted but not averaged: 81, 83 -> 82 ± sqrt(2).
    assert.equal(g('learnable', 'share').completed, 2);
    assert.equal(g('learnable', 'share').failed, 1);
    close(g('learnable', 'share').acc1Mean, 82);
    close(g('learnable', 'share').acc1Std, Math.SQRT2);
    assert.equal(g('learnable', 'LaPE').params, 1100);
    assert.equal(g('2D_sin', 'share').missing, 2);
    assert.equal(g('2D_sin', 'share').acc1Std, null);

    // LaPE - basic (learnable): diff 87 - 82 = 5; se = sqrt(1/3 + 4/3); df = (5/3)² / ((1/3)²/2 + (4/3)²/2)
    // = 50/17; t_{0.975, 50/17} = 3.2187586145 (scipy); CI = 5 ± t·se.
    const lape = c('learnable', 'LaPE');
    const se = Math.sqrt(5 / 3);
    close(lape.interval?.diff, 5);
    close(lape.interval?.se, se);
    close(lape.interval?.df, 50 / 17);
    close(lape.interval?.low, 0.8446004968174945, 1e-9);
    close(lape.interval?.high, 9.155399503182505, 1e-9);
    assert.equal(lape.verdict, 'better');
    // share - basic (learnable): 82 - 82 = 0; se = sqrt(2/2 + 4/3); df = (7/3)² / (1²/1 + (4/3)²/2) = 98/34.
    const share = c('learnable', 'share');
    close(share.interval?.diff, 0);
    close(share.interval?.df, 98 / 34);
    close(share.interval?.high, 4.975467596410764, 1e-9);
    close(share.interval?.low, -4.975467596410764, 1e-9);
    assert.equal(share.verdict, 'within-noise');
    // 2D_sin: 86 - 91 = -5; se = sqrt(1/3 + 1/3); df = 4 exactly; t_{0.975,4} = 2.7764451052.
    const worse = c('2D_sin', 'LaPE');
    close(worse.interval?.df, 4);
    close(worse.interval?.low, -5 - 2.7764451051977934 * Math.sqrt(2 / 3));
    close(worse.interval?.high, -5 + 2.7764451051977934 * Math.sqrt(2 / 3));
    assert.equal(worse.verdict, 'worse');
    assert.equal(c('2D_sin', 'share').verdict, 'insufficient');

    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as typeof s;
    assert.equal(json.runs.length, 16);
    assert.deepEqual(json.missing, ['2D_sin_share_s1', '2D_sin_share_s2']);
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    for (const line of [
      '- Command: `lape study studies/hand.json`',
      '- Date: 2026-02-03T04:05:06.000Z',
      '- Machine: Test CPU, 2 cores, 8.0 GiB memory, linux, Node v20.0.0, lape backend js',
      '- Runs: 18 in the grid, 15 completed, 1 failed, 2 not run yet',
      '| learnable | basic | 3/3 | 82.00 ± 2.00 | 92.00 | 1,000 | 101.0 | 3 min |',
      '| learnable | share | 2/3 (1 failed) | 82.00 ± 1.41 |',
      '| 2D_sin | share | 1/3 | 88.00 | 98.00 |',
      '| learnable | LaPE − basic | +5.00 | [+0.84, +9.16] | 2.9 | LaPE better |',
      '| learnable | share − basic | +0.00 | [−4.98, +4.98] | 2.9 | within noise |',
      '| 2D_sin | LaPE − basic | −5.00 | [−7.27, −2.73] | 4.0 | LaPE worse |',
      '- learnable: LaPE vs basic: LaPE better (+5.00 points top-1, 95% CI [+0.84, +9.16]; the interval excludes 0)',
      '- 2D_sin: LaPE vs basic: LaPE worse (−5.00 points top-1, 95% CI [−7.27, −2.73]; the interval excludes 0)',
      '- 2D_sin: share vs basic: not enough runs to compare (1 and 3 completed seeds; needs at least 2 each)',
      '| learnable_share_s2 | failed | 2 | — | — | — | 102.0 | 60 s | training diverged: loss is NaN at epoch 1, step 3; the last good checkpoint was kept |',
    ])
      assert.ok(md.includes(line), `results.md lacks: ${line}\n---\n${md}`);
  });
});

describe('runStudy end to end', () => {
  let data = '';
  let studyFile = '';
  const dirs = mkdtempSync(join(tmpdir(), 'lape-study-e2e-'));
  const quiet = { progress: false, log: () => {} };
  const tinyStudy = (extra: Record<string, unknown> = {}) => ({
    name: 'tiny',
    description: 'end-to-end test study',
    dataset: { kind: 'image-folder', path: data },
    model: 'lape_tiny',
    train: {
      epochs: 1,
      batchSize: 8,
      lr: 2e-3,
      unscaleLr: true,
      warmupEpochs: 0,
      mixup: 0,
      cutmix: 0,
      aa: 'none',
      reprob: 0,
      repeatedAug: false,
      modelEma: false,
      workers: 0,
      ...extra,
    },
    grid: { pe: ['learnable', '2D_sin'], join: ['basic', 'LaPE'], seeds: [0, 1] },
  });

  before(async () => {
    data = await makeImageFolder();
    studyFile = join(dirs, 'tiny.json');
    writeFileSync(studyFile, JSON.stringify(tinyStudy()));
  });

  it('runs 8 runs, writes result.json and results.md, then skips them all', async () => {
    const out = join(dirs, 'out');
    const report = await runStudy(studyFile, { ...quiet, outDir: out });
    assert.equal(report.interrupted, false);
    assert.deepEqual(
      report.runs.map((r) => r.action.kind),
      Array(8).fill('trained'),
    );
    const runDirs = readdirSync(out)
      .filter((f) => statSync(join(out, f)).isDirectory())
      .sort();
    assert.deepEqual(runDirs, [
      '2D_sin_LaPE_s0',
      '2D_sin_LaPE_s1',
      '2D_sin_basic_s0',
      '2D_sin_basic_s1',
      'learnable_LaPE_s0',
      'learnable_LaPE_s1',
      'learnable_basic_s0',
      'learnable_basic_s1',
    ]);
    for (const d of runDirs) {
      for (const f of ['result.json', 'checkpoint.pth', 'best_checkpoint.pth', 'log.txt', 'config.json'])
        assert.ok(existsSync(join(out, d, f)), `${d}/${f}`);
      const r = JSON.parse(readFileSync(join(out, d, 'result.json'), 'utf8')) as RunRecord;
      assert.equal(r.status, 'completed');
      assert.equal(r.epochs, 1);
      assert.equal(r.machine.cores, machineInfo().cores);
      if (r.status === 'completed') {
        assert.ok(r.acc1 >= 0 && r.acc1 <= 100 && r.images === 36, JSON.stringify(r));
        assert.ok(r.params !== null && r.params > 0 && (r.images_per_s ?? 0) > 0 && r.wall_s > 0);
      }
    }
    // LaPE adds one LayerNorm (2 x 32 parameters) per block (2 blocks) to the same model.
    const params = (d: string) =>
      (JSON.parse(readFileSync(join(out, d, 'result.json'), 'utf8')) as RunRecord).params;
    assert.equal(params('learnable_LaPE_s0')! - params('learnable_basic_s0')!, 2 * 2 * 32);
    // Seeds change the run; the same seed with the same settings would not.
    const acc = (d: string) =>
      (JSON.parse(readFileSync(join(out, d, 'log.txt'), 'utf8')) as { train_loss: number }).train_loss;
    assert.notEqual(acc('learnable_basic_s0'), acc('learnable_basic_s1'));

    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /^# Study `tiny`/);
    assert.match(md, /- Runs: 8 in the grid, 8 completed, 0 failed, 0 not run yet/);
    assert.match(
      md,
      new RegExp(
        `- Machine: .*${machineInfo().cores} cores, .* GiB memory, .*Node ${process.version}, lape backend (js|native)`,
      ),
    );
    assert.match(md, /\| learnable \| basic \| 2\/2 \| \d+\.\d\d ± \d+\.\d\d \|/);
    assert.match(md, /\| learnable \| LaPE − basic \| [+−]\d+\.\d\d \| (\[.*\]|—) \|/);
    assert.match(md, /- learnable: LaPE vs basic: (LaPE better|LaPE worse|within noise)/);
    assert.match(md, /- 2D_sin: LaPE vs basic: /);
    const summary = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: unknown[] };
    assert.equal(summary.runs.length, 8);

    // The second invocation trains and evaluates nothing: every run is skipped on its result.json,
    // no run starts, and no file of any run is touched.
    const snapshot = (): string[] =>
      runDirs.flatMap((d) =>
        readdirSync(join(out, d)).map((f) => {
          const st = statSync(join(out, d, f));
          return `${d}/${f} ${st.size} ${st.mtimeMs}`;
        }),
      );
    const filesBefore = snapshot();
    const lines: string[] = [];
    const again = await runStudy(studyFile, { progress: false, log: (l) => lines.push(l), outDir: out });
    assert.deepEqual(
      again.runs.map((r) => r.action.kind),
      Array(8).fill('skipped'),
    );
    assert.match(lines[0], /8 runs selected \(8 already finished, 0 to train\)/);
    assert.equal(lines.filter((l) => /: already completed, skipped$/.test(l)).length, 8, lines.join('\n'));
    assert.ok(!lines.some((l) => /training|top-1/.test(l)), lines.join('\n'));
    assert.deepEqual(snapshot(), filesBefore);

    // A run whose result.json is gone but whose checkpoint is complete is resumed (nothing left to
    // train: it is evaluated) and gives the same numbers.
    const first = JSON.parse(readFileSync(join(out, '2D_sin_LaPE_s0', 'result.json'), 'utf8')) as RunRecord;
    rmSync(join(out, '2D_sin_LaPE_s0', 'result.json'));
    const third = await runStudy(studyFile, {
      ...quiet,
      outDir: out,
      only: { pe: ['2D_sin'], join: ['LaPE'], seeds: [0] },
    });
    assert.equal(third.runs.length, 1);
    const action = third.runs[0].action;
    assert.ok(action.kind === 'trained' && action.resumedFromEpoch === 1);
    const redone = JSON.parse(readFileSync(join(out, '2D_sin_LaPE_s0', 'result.json'), 'utf8')) as RunRecord;
    assert.equal(redone.resumed, true);
    assert.ok(first.status === 'completed' && redone.status === 'completed');
    assert.equal(redone.acc1, first.acc1);
    assert.equal(redone.loss, first.loss);
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /\| 2D_sin_LaPE_s0 \| completed \| 1 \|.*resumed from a checkpoint \|/,
    );

    // Changing the recipe and reusing the folder is refused before anything runs.
    const changed = join(dirs, 'tiny-changed.json');
    writeFileSync(changed, JSON.stringify(tinyStudy({ epochs: 2 })));
    await assert.rejects(
      runStudy(changed, { ...quiet, outDir: out }),
      /learnable_basic_s0 was trained with other settings .*epochs: 1 in the run, 2 now/,
    );

    // The CLI's --summarize-only rebuilds the files from the runs.
    rmSync(join(out, 'results.md'));
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((chunk: string) => {
      printed += chunk;
      return true;
    }) as typeof process.stdout.write;
    // main() reports process.exitCode, which the test runner sets when any other test has failed.
    const exitCode = process.exitCode;
    process.exitCode = undefined;
    try {
      assert.equal(await main(['study', studyFile, '--out-dir', out, '--summarize-only']), 0);
    } finally {
      process.stdout.write = write;
      process.exitCode = exitCode;
    }
    assert.match(printed, /learnable: LaPE vs basic: /);
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /- Command: `lape study .*tiny\.json --out-dir .* --summarize-only`/,
    );
  });

  it('resumes a run interrupted mid-epoch to the same result as an uninterrupted one', async () => {
    const file = join(dirs, 'resume.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...tinyStudy({ epochs: 2 }),
        grid: { pe: ['learnable'], join: ['LaPE'], seeds: [0, 1] },
      }),
    );
    const whole = await runStudy(file, { ...quiet, outDir: join(dirs, 'whole'), only: { seeds: [0] } });
    const reference = whole.runs[0].action;
    assert.ok(reference.kind === 'trained' && reference.record.status === 'completed');

    // Abort right after epoch 1: the run stops one step into epoch 2, and seed 1 is not started.
    const out = join(dirs, 'interrupted');
    const controller = new AbortController();
    const log = (line: string): void => {
      if (line.includes('epoch 1:')) controller.abort();
    };
    const stopped = await runStudy(file, { outDir: out, progress: false, log, signal: controller.signal });
    assert.equal(stopped.interrupted, true);
    assert.deepEqual(
      stopped.runs.map((r) => r.action.kind),
      ['interrupted', 'not-started'],
    );
    assert.ok(existsSync(join(out, 'learnable_LaPE_s0', 'checkpoint.pth')));
    assert.equal(existsSync(join(out, 'learnable_LaPE_s0', 'result.json')), false);
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /Not run yet: learnable_LaPE_s0, learnable_LaPE_s1\./,
    );

    const resumed = await runStudy(file, { ...quiet, outDir: out, only: { seeds: [0] } });
    const action = resumed.runs[0].action;
    assert.ok(action.kind === 'trained' && action.resumedFromEpoch === 1);
    const r = action.record;
    assert.ok(r.status === 'completed' && reference.record.status === 'completed');
    assert.equal(r.resumed, true);
    assert.equal(r.epochs, 2);
    // Bit-exact resume: the same final numbers as the run that was never stopped.
    assert.equal(r.acc1, reference.record.acc1);
    assert.equal(r.loss, reference.record.loss);
  });

  it('records a diverged run as failed and keeps it in the table', async () => {
    const file = join(dirs, 'diverge.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...tinyStudy({ lr: 1e300 }),
        grid: { pe: ['learnable'], join: ['basic'], seeds: [0] },
      }),
    );
    const out = join(dirs, 'diverge-out');
    const report = await runStudy(file, { ...quiet, outDir: out });
    const r = JSON.parse(readFileSync(join(out, 'learnable_basic_s0', 'result.json'), 'utf8')) as RunRecord;
    assert.equal(r.status, 'failed');
    assert.ok(
      r.status === 'failed' && /training diverged: loss is (NaN|Infinity|-Infinity)/.test(r.error),
      JSON.stringify(r),
    );
    assert.equal(report.summary.groups[0].failed, 1);
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /\| learnable_basic_s0 \| failed \| 0 \| — \|.*training diverged/,
    );
    const again = await runStudy(file, { ...quiet, outDir: out });
    assert.equal(again.runs[0].action.kind, 'skipped');
  });

  it('checks the data path before any run', async () => {
    const file = join(dirs, 'nodata.json');
    writeFileSync(
      file,
      JSON.stringify({ ...tinyStudy(), dataset: { kind: 'image-folder', path: join(dirs, 'missing') } }),
    );
    await assert.rejects(
      runStudy(file, { ...quiet, outDir: join(dirs, 'nodata-out') }),
      /nodata\.json: dataset\.path '.*missing' does not exist/,
    );
    assert.equal(existsSync(join(dirs, 'nodata-out')), false);
  });
});
