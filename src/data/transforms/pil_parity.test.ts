/**
 * Bit-exact agreement with Pillow for the ops RandAugment, ColorJitter and the resizes are defined by.
 * Reference values: test/fixtures/data/pil_reference.json, made by make_pil_reference.py there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type ImageU8, toGray } from '../image.js';
import { type AffineMatrix, affine, rotationMatrix } from './affine.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustSharpness,
  autoContrast,
  equalize,
  invert,
  posterize,
  solarize,
} from './pixel_ops.js';
import { type Interpolation, resize, resizeRegion } from './resize.js';

interface Case {
  readonly name: string;
  readonly src: 'rgb' | 'grey';
  readonly params: {
    readonly interp: Interpolation;
    readonly width: number;
    readonly height: number;
    readonly box: readonly [number, number, number, number];
    readonly degrees: number;
    readonly matrix: AffineMatrix;
    readonly fill: readonly number[];
    readonly bits: number;
    readonly threshold: number;
    readonly factor: number;
  };
  readonly width: number;
  readonly height: number;
  readonly data: readonly number[];
}

interface Reference {
  readonly pillow: string;
  readonly width: number;
  readonly height: number;
  readonly rgb: readonly number[];
  readonly grey: readonly number[];
  readonly cases: readonly Case[];
}

const ref = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/data/pil_reference.json', import.meta.url), 'utf8'),
) as Reference;

function source(kind: Case['src']): ImageU8 {
  const { width, height } = ref;
  return kind === 'rgb'
    ? { data: Uint8Array.from(ref.rgb), width, height, channels: 3 }
    : { data: Uint8Array.from(ref.grey), width, height, channels: 1 };
}

function run(c: Case): ImageU8 {
  const img = source(c.src);
  const p = c.params;
  switch (c.name) {
    case 'resize':
      return resize(img, p.height, p.width, p.interp);
    case 'resize_box': {
      const [x0, y0, x1, y1] = p.box;
      return resizeRegion(
        img,
        { left: x0, top: y0, width: x1 - x0, height: y1 - y0 },
        p.height,
        p.width,
        p.interp,
      );
    }
    case 'rotate':
      return affine(img, rotationMatrix(p.degrees, img.width, img.height), p.interp, p.fill);
    case 'affine':
      return affine(img, p.matrix, p.interp, p.fill);
    case 'autocontrast':
      return autoContrast(img);
    case 'equalize':
      return equalize(img);
    case 'invert':
      return invert(img);
    case 'posterize':
      return posterize(img, p.bits);
    case 'solarize':
      return solarize(img, p.threshold);
    case 'grey':
      return toGray(img);
    case 'brightness':
      return adjustBrightness(img, p.factor);
    case 'contrast':
      return adjustContrast(img, p.factor);
    case 'color':
      return adjustSaturation(img, p.factor);
    case 'sharpness':
      return adjustSharpness(img, p.factor);
    default:
      throw new Error(`unknown reference op ${c.name}`);
  }
}

describe(`Pillow parity (reference from Pillow ${ref.pillow})`, () => {
  const names = [...new Set(ref.cases.map((c) => c.name))];
  for (const name of names) {
    it(name, () => {
      const cases = ref.cases.filter((c) => c.name === name);
      assert.ok(cases.length > 0);
      for (const c of cases) {
        const out = run(c);
        const label = `${c.name} ${c.src} ${JSON.stringify(c.params)}`;
        assert.deepEqual([out.width, out.height], [c.width, c.height], label);
        assert.deepEqual([...out.data], c.data, label);
      }
    });
  }
});
