/**
 * Colour maps for heat maps: viridis (sequential, for cosine similarities) and a blue-white-red
 * diverging map (for relative position biases, whose sign matters).
 *
 * Every renderer (PNG and the HTML report) goes through the same 256-entry lookup table, so a value
 * gets the identical colour in a PNG and on a report canvas.
 */

/** An sRGB colour with 0..255 integer channels. */
export type RGB = readonly [number, number, number];

export type ColormapKind = 'viridis' | 'diverging';

export type ColormapSpec = { kind: 'viridis' } | { kind: 'diverging' };

/** Number of entries in every lookup table. */
export const LUT_SIZE = 256;

/** Colour used for NaN / infinite values, so broken data is visible instead of silently mapped. */
export const INVALID_RGB: RGB = [200, 200, 200];

/**
 * Viridis as a degree-6 polynomial per channel in t (a published least-squares fit of matplotlib's
 * viridis, max error about 1/100 per channel). A fit keeps the source small and the map smooth.
 * Coefficients are listed from t^0 to t^6.
 */
const VIRIDIS_FIT: readonly (readonly number[])[] = [
  [
    0.2777273272234177, 0.1050930431085774, -0.3308618287255563, -4.634230498983486, 6.228269936347081,
    4.776384997670288, -5.435455855934631,
  ],
  [
    0.005407344544966578, 1.404613529898575, 0.214847559468213, -5.799100973351585, 14.17993336680509,
    -13.74514537774601, 4.645852612178535,
  ],
  [
    0.3340998053353061, 1.384590162594685, 0.09509516302823659, -19.33244095627987, 56.69055260068105,
    -65.35303263337234, 26.3124352495832,
  ],
];

/**
 * Anchors of the diverging map, from negative (t = 0) to positive (t = 1): ColorBrewer's 11-class
 * RdBu reversed, so negative biases are blue and positive ones red with a near-white zero. Its
 * lightness rises monotonically towards the centre on both sides, which keeps it readable.
 */
const DIVERGING_ANCHORS: readonly RGB[] = [
  [5, 48, 97],
  [33, 102, 172],
  [67, 147, 195],
  [146, 197, 222],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [244, 165, 130],
  [214, 96, 77],
  [178, 24, 43],
  [103, 0, 31],
];

function clamp01(t: number): number {
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

function toByte(x: number): number {
  return Math.round(clamp01(x) * 255);
}

/** Viridis colour at t in [0, 1] (clamped). */
export function viridis(t: number): RGB {
  if (!Number.isFinite(t)) return INVALID_RGB;
  const x = clamp01(t);
  const channel = (c: readonly number[]): number => {
    // Horner's scheme: fewer operations and better conditioned than summing powers.
    let acc = c[6];
    for (let i = 5; i >= 0; i--) acc = acc * x + c[i];
    return acc;
  };
  return [toByte(channel(VIRIDIS_FIT[0])), toByte(channel(VIRIDIS_FIT[1])), toByte(channel(VIRIDIS_FIT[2]))];
}

/** Diverging blue-white-red colour at t in [0, 1] (clamped); t = 0.5 is the neutral centre. */
export function diverging(t: number): RGB {
  if (!Number.isFinite(t)) return INVALID_RGB;
  const pos = clamp01(t) * (DIVERGING_ANCHORS.length - 1);
  const i = Math.min(Math.floor(pos), DIVERGING_ANCHORS.length - 2);
  const f = pos - i;
  const a = DIVERGING_ANCHORS[i];
  const b = DIVERGING_ANCHORS[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

const lutCache = new Map<ColormapKind, Uint8Array>();

/**
 * The lookup table of a colour map: LUT_SIZE RGB triples, entry k for t = k / (LUT_SIZE - 1).
 * Cached and shared, so callers must not mutate it.
 */
export function colormapLut(spec: ColormapSpec): Uint8Array {
  const cached = lutCache.get(spec.kind);
  if (cached) return cached;
  const fn = spec.kind === 'viridis' ? viridis : diverging;
  const lut = new Uint8Array(LUT_SIZE * 3);
  for (let k = 0; k < LUT_SIZE; k++) {
    const [r, g, b] = fn(k / (LUT_SIZE - 1));
    lut[3 * k] = r;
    lut[3 * k + 1] = g;
    lut[3 * k + 2] = b;
  }
  lutCache.set(spec.kind, lut);
  return lut;
}

/**
 * The LUT index of a value for the range [vmin, vmax]; -1 for a non-finite value. A degenerate
 * range (vmax <= vmin, e.g. a constant map) maps everything to the middle entry. The HTML report's
 * client script implements the same formula, so keep them in sync.
 */
export function lutIndex(value: number, vmin: number, vmax: number): number {
  if (!Number.isFinite(value)) return -1;
  if (!(vmax > vmin)) return LUT_SIZE >> 1;
  const k = Math.round(((value - vmin) / (vmax - vmin)) * (LUT_SIZE - 1));
  return k < 0 ? 0 : k > LUT_SIZE - 1 ? LUT_SIZE - 1 : k;
}

/** The colour of a value under a colour map and range, exactly as the renderers draw it. */
export function colorOf(value: number, vmin: number, vmax: number, spec: ColormapSpec): RGB {
  const k = lutIndex(value, vmin, vmax);
  if (k < 0) return INVALID_RGB;
  const lut = colormapLut(spec);
  return [lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]];
}

/** Finite min and max of some values; [0, 0] when none is finite. */
export function finiteRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // Skip NaN/infinite values: they are drawn as INVALID_RGB and must not blow up the range.
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * The default colour range of some values under a colour map: min..max for viridis; for the
 * diverging map a range symmetric about 0 so that white always means "no bias" (and +-1 for an
 * all-zero map, e.g. a freshly zero-initialised RPE table, instead of a degenerate range).
 */
export function defaultRange(values: ArrayLike<number>, spec: ColormapSpec): [number, number] {
  const [lo, hi] = finiteRange(values);
  if (spec.kind === 'viridis') return [lo, hi];
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return m > 0 ? [-m, m] : [-1, 1];
}

/** Resolve an optional explicit range against the default one. */
export function resolveRange(
  values: ArrayLike<number>,
  spec: ColormapSpec,
  vmin?: number,
  vmax?: number,
): [number, number] {
  if (vmin !== undefined && vmax !== undefined) return [vmin, vmax];
  const [lo, hi] = defaultRange(values, spec);
  return [vmin ?? lo, vmax ?? hi];
}
