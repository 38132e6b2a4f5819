/**
 * Turns a list of dataset indices into a finished Batch: decode, per-sample transform, collate, mix.
 * The same code runs inline and inside loader workers, so both give bit-identical batches.
 *
 * Randomness: sample at epoch position p draws from Rng(sample, seed, epoch, p) and mixing group m's
 * mixing from Rng(batch, seed, epoch, m) (a pair's or sample's from Rng(batch, seed, epoch, m, position)).
 * Keying by epoch position rather than dataset index matters for repeated augmentation, whose copies of
 * one image sit at different positions and must be augmented differently.
 *
 * A mixing batch is mixed within itself (member j of n with member n-1-j). A job may be one piece of a
 * larger mixing batch (a micro-batch of gradient accumulation): its samples are then mixed with their
 * partners in the whole batch, which the job lists and the producer transforms itself when they lie
 * outside the piece, keyed by their own positions, so the pieces together are exactly the whole batch.
 *
 * Data-parallel ranks key by global quantities, so N ranks of batch B draw exactly what one process of
 * batch N*B draws: a sample by its global epoch position (see `Shard`), and rank r's mixing batch b,
 * which is mixed on its own (timm mixes each rank's batch with its reverse), as group b * N + r. One
 * process reproduces that grouping with `mixupGroups` G: its mixing batch b is mixed as G interleaved
 * groups (position w in group w % G), group g keyed by b * G + g.
 */
import type { Batch } from './batch.js';
import type { RawImage } from './image.js';
import {
  type MixDecision,
  type MixupConfig,
  decisionFor,
  mixTargets,
  mixTargetsWithPartners,
  mixWithPartners,
  sampleMix,
} from './mixup.js';
import { Rng, RngStream } from '../tensor/random.js';
import { type Shard, WHOLE_EPOCH, globalPosition } from './sampler.js';
import type { ImageSource } from './source.js';
import { type CompiledTransform, type TransformConfig, compileTransform } from './transforms/pipeline.js';

/** Everything besides the source that decides a batch's content; plain data. */
export interface ProducerConfig {
  readonly transform: TransformConfig;
  readonly seed: number;
  readonly epoch: number;
  readonly mixup: MixupConfig | null;
  /** Label smoothing without mixup: targets are then the smoothed one-hot labels. 0 = hard labels only. */
  readonly labelSmoothing: number;
  /** Width of the soft targets (the model's outputs); default the source's class count. */
  readonly numClasses?: number;
  /** This process's share of the epoch (default: all of it). */
  readonly shard?: Shard;
  /** Mix each mixing batch as this many interleaved groups (default 1; see above). */
  readonly mixupGroups?: number;
}

export interface BatchJob {
  /** The loader's batch number (unique in an epoch). */
  readonly batchIndex: number;
  /** Dataset indices of the batch, in order. */
  readonly indices: Int32Array;
  /** Epoch position (this rank's) of indices[0]; sample k sits at firstPosition + k. */
  readonly firstPosition: number;
  /**
   * When this batch is a piece of a larger mixing batch: that batch's number (keys its mixing), its
   * size, where this piece starts in it, and the dataset indices of the whole batch in order.
   * Absent: the job is its own mixing batch.
   */
  readonly mixing?: {
    readonly index: number;
    readonly size: number;
    readonly offset: number;
    readonly indices: Int32Array;
  };
}

/** How many decodes an async source may have in flight within one batch. */
const DECODE_AHEAD = 4;

export class BatchProducer {
  private readonly transform: CompiledTransform;

  constructor(
    private readonly source: ImageSource,
    private readonly config: ProducerConfig,
  ) {
    this.transform = compileTransform(config.transform);
  }

  async produce(job: BatchJob): Promise<Batch> {
    const { indices, firstPosition, batchIndex } = job;
    const { mixup, labelSmoothing } = this.config;
    const t = this.transform;
    const size = indices.length;
    const images = new Float32Array(size * t.sampleLength);
    const labels = new Int32Array(size);
    await this.transformInto(indices, firstPosition, images, labels);
    let targets: Float32Array | null = null;
    if (mixup !== null) {
      const whole = job.mixing ?? { index: batchIndex, size, offset: 0, indices };
      targets = await this.mix(job, whole, images, labels, mixup);
    } else if (labelSmoothing > 0) {
      targets = mixTargets(labels, this.config.numClasses ?? this.source.numClasses, 1, labelSmoothing);
    }
    return { images, labels, targets, size };
  }

  /** Decodes and transforms samples (sample k at epoch position firstPosition + k) into `images`. */
  private async transformInto(
    indices: Int32Array,
    firstPosition: number,
    images: Float32Array,
    labels: Int32Array,
  ): Promise<void> {
    const { seed, epoch } = this.config;
    const shard = this.config.shard ?? WHOLE_EPOCH;
    const t = this.transform;
    const size = indices.length;
    // Decodes of later samples start while earlier ones are transformed (matters for image folders).
    const queue: (RawImage | Promise<RawImage>)[] = [];
    let started = 0;
    for (let k = 0; k < size; k++) {
      for (; started < Math.min(size, k + DECODE_AHEAD); started++) {
        const r = this.source.get(indices[started]);
        // A prefetched decode may fail after an earlier sample already threw; never leave it unhandled.
        if (r instanceof Promise) r.catch(() => undefined);
        queue.push(r);
      }
      const raw = await queue.shift();
      if (raw === undefined) throw new Error('BatchProducer: decode queue underflow');
      labels[k] = raw.label;
      const position = globalPosition(firstPosition + k, shard);
      t.apply(raw, Rng.derive(RngStream.sample, seed, epoch, position), images, k * t.sampleLength);
    }
  }

  /** Mixes the job's samples with their partners in the whole mixing batch; returns the soft targets. */
  private async mix(
    job: BatchJob,
    whole: NonNullable<BatchJob['mixing']>,
    images: Float32Array,
    labels: Int32Array,
    mixup: MixupConfig,
  ): Promise<Float32Array> {
    const { seed, epoch } = this.config;
    const groups = this.config.mixupGroups ?? 1;
    const firstGroup = globalPosition(whole.index, this.config.shard ?? WHOLE_EPOCH) * groups;
    const t = this.transform;
    const size = job.indices.length;
    const n = whole.size;
    const start = job.firstPosition - whole.offset; // epoch position of the whole batch's first sample
    // Whole-batch position w is member j = floor(w / G) of group g = w % G, which has `members(g)`.
    const members = (g: number): number => Math.floor((n - 1 - g) / groups) + 1;
    const partnerOf = (w: number): number => {
      const g = w % groups;
      return g + (members(g) - 1 - Math.floor(w / groups)) * groups;
    };
    const groupDecisions = new Map<number, MixDecision>();
    const decisions = Array.from({ length: size }, (_, k): MixDecision => {
      const w = whole.offset + k;
      const g = w % groups;
      const j = Math.floor(w / groups);
      const m = members(g);
      // The middle member of an odd group is its own partner: nothing to mix.
      if (2 * j === m - 1) return { kind: 'none', lam: 1 };
      const key = firstGroup + g;
      return decisionFor(
        mixup,
        t.size,
        t.size,
        j,
        m,
        () => {
          let d = groupDecisions.get(g);
          if (d === undefined) {
            d = sampleMix(mixup, t.size, t.size, Rng.derive(RngStream.batch, seed, epoch, key));
            groupDecisions.set(g, d);
          }
          return d;
        },
        (pair) => Rng.derive(RngStream.batch, seed, epoch, key, pair),
      );
    });
    // Partner of whole-batch position w: inside this piece, or transformed here.
    const partners = new Float32Array(images.length);
    const partnerLabels = new Int32Array(size);
    const outside: number[] = [];
    for (let k = 0; k < size; k++) {
      const local = partnerOf(whole.offset + k) - whole.offset;
      if (local >= 0 && local < size) {
        partners.set(
          images.subarray(local * t.sampleLength, (local + 1) * t.sampleLength),
          k * t.sampleLength,
        );
        partnerLabels[k] = labels[local];
      } else outside.push(k);
    }
    if (outside.length > 0) {
      // The partners of a piece outside it lie in one run of the whole batch (contiguous when G = 1).
      const qs = outside.map((k) => partnerOf(whole.offset + k));
      const lo = Math.min(...qs);
      const hi = Math.max(...qs);
      const run = new Float32Array((hi - lo + 1) * t.sampleLength);
      const runLabels = new Int32Array(hi - lo + 1);
      await this.transformInto(whole.indices.subarray(lo, hi + 1), start + lo, run, runLabels);
      for (const k of outside) {
        const r = partnerOf(whole.offset + k) - lo;
        partners.set(run.subarray(r * t.sampleLength, (r + 1) * t.sampleLength), k * t.sampleLength);
        partnerLabels[k] = runLabels[r];
      }
    }
    mixWithPartners(images, partners, size, t.channels, t.size, t.size, decisions);
    return mixTargetsWithPartners(
      labels,
      partnerLabels,
      this.config.numClasses ?? this.source.numClasses,
      decisions.map((d) => d.lam),
      mixup.labelSmoothing,
    );
  }
}
