/**
 * lape as an npm artifact: `npm pack` gives a lean tarball (no tests, fixtures, CI, studies or docs)
 * that installs into a fresh folder with no devDependencies, builds the native addon from the shipped
 * sources, imports from ESM, type-checks a consumer under --strict against the shipped .d.ts, refuses
 * deep imports, and answers `npx lape --version`.
 *
 * Slow (a TypeScript build, an install and a native compile: 1-3 minutes); it reuses npm's cache.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const MAX_TARBALL_BYTES = 1.5 * 1024 * 1024;
const hasOneDnn = ['/usr/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp'].some((f) => existsSync(f));
const hasOpenMpi = spawnSync('mpicc', ['--showme:compile'], { stdio: 'ignore' }).status === 0;

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface PackResult {
  filename: string;
  size: number;
  files: { path: string; size: number }[];
}

let pack: PackResult;
let tarball = '';
let app = '';

describe('the npm package', () => {
  before(() => {
    const dest = mkdtempSync(join(tmpdir(), 'lape-pack-'));
    // npm pack runs `prepare` (a clean TypeScript build into dist/) first, as `npm publish` would.
    const r = run('npm', ['pack', '--json', '--pack-destination', dest], root);
    pack = (JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as PackResult[])[0];
    tarball = join(dest, pack.filename);
    app = mkdtempSync(join(tmpdir(), 'lape-consumer-'));
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    // A fresh folder: only lape and its runtime dependencies (npm's cache may serve them).
    run('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev'], app, {
      npm_config_foreground_scripts: 'true',
    });
  });

  it(`is at most 1.5 MB and ships no tests, fixtures, CI, studies or docs`, () => {
    assert.ok(statSync(tarball).size <= MAX_TARBALL_BYTES, `tarball is ${statSync(tarball).size} bytes`);
    const paths = pack.files.map((f) => f.path);
    for (const p of paths) {
      assert.doesNotMatch(p, /^(test|studies|docs|examples|\.ci|src)\//, p);
      assert.doesNotMatch(p, /\.(test\.(js|d\.ts)|pth|npy|map|png)$/, p);
    }
    for (const want of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/index.js',
      'bin/lape.js',
      'native/binding.gyp',
      'native/src/addon.cc',
      'native/src/common.h',
      'scripts/build-native.mjs',
      'native/mpi/binding.gyp',
      'native/src/mpi/lape_mpi.cc',
      'scripts/build-mpi.mjs',
      'package.json',
      'README.md',
    ])
      assert.ok(paths.includes(want), `${want} missing from the tarball`);
  });

  it('lists only packages used at run time as dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const shipped = pack.files
      .filter((f) => f.path.endsWith('.js') || f.path.endsWith('.mjs') || f.path.endsWith('.gyp'))
      .map((f) => readFileSync(join(app, 'node_modules/lape', f.path), 'utf8'))
      .join('\n');
    for (const dep of Object.keys(pkg.dependencies))
      assert.ok(
        shipped.includes(`'${dep}`) || shipped.includes(`"${dep}`),
        `${dep} is not used by the package`,
      );
  });

  it(
    'installing the tarball builds the native addon from the shipped sources',
    { skip: !hasOneDnn && 'oneDNN (libdnnl-dev) is not installed' },
    () => {
      assert.ok(existsSync(join(app, 'node_modules/lape/native/build/Release/lape_native.node')));
    },
  );

  it(
    'installing the tarball builds the optional MPI binding from the shipped sources',
    { skip: !hasOpenMpi && 'Open MPI (libopenmpi-dev) is not installed' },
    () => {
      assert.ok(existsSync(join(app, 'node_modules/lape/native/mpi/build/Release/lape_mpi.node')));
    },
  );

  it('imports from ESM and runs (printing nothing)', () => {
    writeFileSync(
      join(app, 'main.mjs'),
      `import { createModel, train, evaluate, loadCheckpoint, saveCheckpoint, positionSimilarity, exportOnnx,
  tidy, noGrad, tensor, predict, availableBackends, version } from 'lape';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
for (const f of [train, evaluate]) if (typeof f !== 'function') throw new Error('missing export');
const model = createModel('lape_tiny', { join: 'LaPE' });
const x = new Float32Array(2 * 3 * 16 * 16).fill(0.5);
const logits = predict(model, x);
const same = noGrad(() => tidy(() => Array.from(model.forward(tensor(x, [2, 3, 16, 16])).logits.data)));
if (logits.length !== 20 || same.some((v, i) => Math.abs(v - logits[i]) > 1e-6)) throw new Error('predict');
const path = join(mkdtempSync(join(tmpdir(), 'lape-ck-')), 'm.pth');
saveCheckpoint(path, model);
const back = loadCheckpoint(path);
const sim = positionSimilarity(back.model);
const onnx = exportOnnx(back.model);
process.stdout.write(JSON.stringify({ version, name: back.name, layers: sim.layers.length, onnx: onnx.length,
  backends: availableBackends() }));
`,
    );
    const r = run(process.execPath, ['main.mjs'], app);
    const out = JSON.parse(r.stdout) as {
      version: string;
      name: string;
      layers: number;
      onnx: number;
      backends: string[];
    };
    assert.equal(out.version, version);
    assert.equal(out.name, 'lape_tiny');
    assert.equal(out.layers, 2);
    assert.ok(out.onnx > 10_000);
    if (hasOneDnn) assert.ok(out.backends.includes('native'), JSON.stringify(out.backends));
    assert.equal(r.stderr, '', 'the library printed something');
  });

  it('a consumer type-checks under --strict against the shipped .d.ts; deep imports are refused', () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
        },
        files: ['consumer.ts', 'deep.ts'],
      }),
    );
    writeFileSync(
      join(app, 'consumer.ts'),
      `import {
  createModel, train, evaluate, loadCheckpoint, saveCheckpoint, positionSimilarity, exportOnnx, tidy, noGrad,
  defaultTrainConfig, type Tensor, type VitConfig, type TrainConfig, type ModelOutput, type EvalResult,
} from 'lape';

const model = createModel('lape_tiny', { pe: 'learnable', join: 'LaPE' });
const config: VitConfig = model.config;
const join: 'basic' | 'share' | 'unshare' | 'LaPE' | 'LaPE-shared' = config.join;
const cfg: TrainConfig = { ...defaultTrainConfig(), model: 'lape_tiny', epochs: 1 };
const out: ModelOutput = noGrad(() => tidy(() => model.forward(null as unknown as Tensor)));
const logits: Tensor = out.logits;
const bytes: Uint8Array = exportOnnx(model, { opset: 17 });
const sims: Float32Array[] = positionSimilarity(model).layers.map((l) => l.similarity);
async function later(): Promise<EvalResult> {
  await train(cfg, { log: (line: string) => void line, progress: false });
  saveCheckpoint('m.pth', model);
  return evaluate(loadCheckpoint('m.pth').model, { kind: 'fashion-mnist' });
}
void [join, logits, bytes, sims, later];

// The check is real: each of these must be an error (an unused @ts-expect-error fails the check).
// @ts-expect-error a model is not a number
const wrong: number = createModel('lape_tiny');
// @ts-expect-error joins are a closed set
createModel('lape_tiny', { join: 'lape' });
void wrong;
`,
    );
    writeFileSync(
      join(app, 'deep.ts'),
      `// @ts-expect-error deep imports are not part of the API (the exports map names only 'lape')
import { resolveConfig } from 'lape/dist/models/registry.js';
void resolveConfig;
`,
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    // Deep imports are not part of the API.
    const deep = spawnSync(process.execPath, ['-e', "import('lape/dist/models/registry.js')"], {
      cwd: app,
      encoding: 'utf8',
    });
    assert.notEqual(deep.status, 0);
    assert.match(deep.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('npx lape --version prints the version', () => {
    const r = run('npx', ['lape', '--version'], app);
    assert.equal(r.stdout.trim(), version);
  });
});
