import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataError } from '../errors.js';
import { type ImageU8, flipHorizontal, toGray } from '../image.js';
import { Rng } from '../../tensor/random.js';
import { FASHION_MNIST_STATS, IMAGENET_STATS } from '../stats.js';
import { resizeCenterCrop } from './crop.js';
import { normalizationTables, toTensorInto } from './normalize.js';
import {
  type EvalTransformConfig,
  type TrainTransformConfig,
  type TransformConfig,
  compileTransform,
  deitEvalTransform,
  deitTrainTransform,
} from './pipeline.js';

function noise(width: number, height: number, channels: 1 | 3, seed: number): ImageU8 {
  const r = Rng.derive(seed);
  return {
    data: Uint8Array.from({ length: width * height * channels }, () => r.int(256)),
    width,
    height,
    channels,
  };
}

function run(config: TransformConfig, img: ImageU8, seed = 0): Float32Array {
  const t = compileTransform(config);
  const out = new Float32Array(t.sampleLength);
  t.apply(img, Rng.derive(seed), out, 0);
  return out;
}

function normalized(img: ImageU8, channels: 1 | 3, norm = FASHION_MNIST_STATS): Float32Array {
  const out = new Float32Array(channels * img.width * img.height);
  toTensorInto(img, normalizationTables(norm, channels), out, 0);
  return out;
}

const plainTrain: TrainTransformConfig = {
  kind: 'train',
  size: 8,
  channels: 1,
  interpolation: 'bicubic',
  crop: { kind: 'random-crop', padding: 0, fill: 0 },
  hflip: 0,
  augment: { kind: 'none' },
  normalize: FASHION_MNIST_STATS,
  erasing: null,
};

describe('transform pipelines', () => {
  it('eval at native size is exactly ToTensor + Normalize', () => {
    const img = noise(28, 28, 1, 1);
    const cfg = deitEvalTransform({ size: 28, channels: 1, normalize: FASHION_MNIST_STATS });
    assert.deepEqual(run(cfg, img), normalized(img, 1));
  });

  it('eval above 32 pixels resizes to size / 0.875 and centre-crops', () => {
    const img = noise(50, 40, 3, 2);
    const cfg: EvalTransformConfig = deitEvalTransform({ size: 36, channels: 3, normalize: IMAGENET_STATS });
    assert.deepEqual(cfg.resize, { kind: 'center-crop', cropPct: 0.875 });
    assert.deepEqual(
      run(cfg, img),
      normalized(resizeCenterCrop(img, 36, 0.875, 'bicubic'), 3, IMAGENET_STATS),
    );
  });

  it('repeats grey to 3 channels and converts colour to grey for 1', () => {
    const grey = noise(8, 8, 1, 3);
    const three = run({ ...plainTrain, channels: 3 }, grey);
    const plane = three.subarray(0, 64);
    assert.deepEqual(three.subarray(64, 128), plane);
    assert.deepEqual(three.subarray(128), plane);
    assert.deepEqual(plane, normalized(grey, 1));
    const rgb = noise(8, 8, 3, 4);
    assert.deepEqual(run(plainTrain, rgb), normalized(toGray(rgb), 1));
  });

  it('with every random step off, train equals eval; hflip 1 flips', () => {
    const img = noise(8, 8, 1, 5);
    assert.deepEqual(run(plainTrain, img), normalized(img, 1));
    assert.deepEqual(run({ ...plainTrain, hflip: 1 }, img), normalized(flipHorizontal(img), 1));
  });

  it('is a pure function of the image and the RNG', () => {
    const cfg = deitTrainTransform({ size: 24, channels: 3, normalize: IMAGENET_STATS });
    const img = noise(30, 20, 3, 6);
    assert.deepEqual(run(cfg, img, 1), run(cfg, img, 1));
    assert.notDeepEqual(run(cfg, img, 1), run(cfg, img, 2));
  });

  it("builds DeiT's recipe", () => {
    const big = deitTrainTransform({ size: 224, channels: 3, normalize: IMAGENET_STATS });
    assert.deepEqual(big.crop, { kind: 'random-resized-crop', scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    assert.deepEqual(big.augment, { kind: 'rand-augment', config: 'rand-m9-mstd0.5-inc1' });
    assert.equal(big.erasing?.prob, 0.25);
    assert.equal(big.erasing?.mode, 'pixel');
    assert.equal(big.hflip, 0.5);
    assert.equal(big.interpolation, 'bicubic');
    const small = deitTrainTransform({
      size: 32,
      channels: 3,
      normalize: IMAGENET_STATS,
      autoAugment: null,
      reprob: 0,
    });
    assert.deepEqual(small.crop, { kind: 'random-crop', padding: 4, fill: 0 });
    assert.deepEqual(small.augment, { kind: 'color-jitter', strength: 0.3 });
    assert.equal(small.erasing, null);
    assert.deepEqual(deitEvalTransform({ size: 28, channels: 1, normalize: FASHION_MNIST_STATS }).resize, {
      kind: 'resize',
    });
  });

  it('rejects bad configs with a DataError naming the field', () => {
    const bad = (cfg: TransformConfig, path: string): void =>
      assert.throws(
        () => compileTransform(cfg),
        (e: unknown) => e instanceof DataError && e.path === path,
      );
    bad({ ...plainTrain, hflip: 2 }, 'transform.hflip');
    bad({ ...plainTrain, size: 0 }, 'transform.size');
    bad({ ...plainTrain, crop: { kind: 'random-crop', padding: -1, fill: 0 } }, 'transform.crop.padding');
    bad(
      { ...plainTrain, crop: { kind: 'random-resized-crop', scale: [0.5, 0.1], ratio: [1, 1] } },
      'transform.crop.scale',
    );
    bad({ ...plainTrain, augment: { kind: 'color-jitter', strength: -1 } }, 'transform.augment.strength');
    bad(
      {
        ...deitEvalTransform({ size: 40, channels: 1, normalize: FASHION_MNIST_STATS }),
        resize: { kind: 'center-crop', cropPct: 0 },
      },
      'transform.resize.cropPct',
    );
    assert.throws(
      () => compileTransform({ ...plainTrain, augment: { kind: 'rand-augment', config: 'rand-q1' } }),
      DataError,
    );
  });
});
