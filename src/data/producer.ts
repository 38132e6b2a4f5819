/**
 * Turns a list of dataset indices into a finished Batch: decode, per-sample transform, collate, mix.
 * The same code runs inline and inside loader workers, so both give bit-identical batches.
 *
 * Randomness: sample at epoch position p draws from Rng(sample, seed, epoch, p) and batch b's mixing from
 * Rng(batch, seed, epoch, b). Keying by epoch position rather than dataset index matters for repeated
 * augmentation, whose copies of one image sit at different positions and must be augmented differently.
 *
 * Data-parallel ranks key by global quantities, so N ranks of batch B draw exactly what one process of
 * batch N*B draws: a sample by its global epoch position (see `Shard`), and rank r's batch b, which is
 * mixed on its own (timm mixes each rank's batch with its reverse), by mixing group b * N + r. One
 * process reproduces that grouping with `mixupGroups` G: its batch b is mixed as G interleaved groups
 * (within-batch index i in group i % G), group g keyed by b * G + g.
 */
import type { Batch } from './batch.js';
import type { RawImage } from './image.js';
import { type MixupConfig, applyMix, mixTargets, sampleMix } from './mixup.js';
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
  /** This process's share of the epoch (default: all of it). */
  readonly shard?: Shard;
  /** Mix each batch as this many interleaved groups (default 1; see above). */
  readonly mixupGroups?: number;
}

export interface BatchJob {
  readonly batchIndex: number;
  /** Dataset indices of the batch, in order. */
  readonly indices: Int32Array;
  /** Epoch position of indices[0]; sample k sits at firstPosition + k. */
  readonly firstPosition: number;
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
    const { seed, epoch, mixup, labelSmoothing } = this.config;
    const shard = this.config.shard ?? WHOLE_EPOCH;
    const t = this.transform;
    const size = indices.length;
    const images = new Float32Array(size * t.sampleLength);
    const labels = new Int32Array(size);
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
    let targets: Float32Array | null = null;
    if (mixup !== null) {
      const groups = this.config.mixupGroups ?? 1;
      const firstGroup = globalPosition(batchIndex, shard) * groups;
      targets = new Float32Array(size * this.source.numClasses);
      for (let g = 0; g < groups; g++) {
        this.mixGroup(
          mixup,
          images,
          labels,
          targets,
          g,
          groups,
          Rng.derive(RngStream.batch, seed, epoch, firstGroup + g),
        );
      }
    } else if (labelSmoothing > 0) {
      targets = mixTargets(labels, this.source.numClasses, 1, labelSmoothing);
    }
    return { images, labels, targets, size };
  }

  /** Mixes the samples g, g + groups, g + 2 * groups, ... of a batch among themselves. */
  private mixGroup(
    mixup: MixupConfig,
    images: Float32Array,
    labels: Int32Array,
    targets: Float32Array,
    g: number,
    groups: number,
    rng: Rng,
  ): void {
    const t = this.transform;
    const classes = this.source.numClasses;
    const mix = sampleMix(mixup, t.size, t.size, rng);
    if (groups === 1) {
      applyMix(images, labels.length, t.channels, t.size, t.size, mix);
      targets.set(mixTargets(labels, classes, mix.lam, mixup.labelSmoothing));
      return;
    }
    const members: number[] = [];
    for (let i = g; i < labels.length; i += groups) members.push(i);
    const n = t.sampleLength;
    const part = new Float32Array(members.length * n);
    members.forEach((i, k) => part.set(images.subarray(i * n, (i + 1) * n), k * n));
    applyMix(part, members.length, t.channels, t.size, t.size, mix);
    const partTargets = mixTargets(
      Int32Array.from(members, (i) => labels[i]),
      classes,
      mix.lam,
      mixup.labelSmoothing,
    );
    members.forEach((i, k) => {
      images.set(part.subarray(k * n, (k + 1) * n), i * n);
      targets.set(partTargets.subarray(k * classes, (k + 1) * classes), i * classes);
    });
  }
}
