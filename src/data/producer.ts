/**
 * Turns a list of dataset indices into a finished Batch: decode, per-sample transform, collate, mix.
 * The same code runs inline and inside loader workers, so both give bit-identical batches.
 *
 * Randomness: sample at epoch position p draws from Rng(sample, seed, epoch, p) and batch b's mixing from
 * Rng(batch, seed, epoch, b). Keying by epoch position rather than dataset index matters for repeated
 * augmentation, whose copies of one image sit at different positions and must be augmented differently.
 */
import type { Batch } from './batch.js';
import type { RawImage } from './image.js';
import { type MixupConfig, applyMix, mixTargets, sampleMix } from './mixup.js';
import { Rng, RngStream } from '../tensor/random.js';
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
      t.apply(raw, Rng.derive(RngStream.sample, seed, epoch, firstPosition + k), images, k * t.sampleLength);
    }
    let targets: Float32Array | null = null;
    if (mixup !== null) {
      const mix = sampleMix(mixup, t.size, t.size, Rng.derive(RngStream.batch, seed, epoch, batchIndex));
      applyMix(images, size, t.channels, t.size, t.size, mix);
      targets = mixTargets(labels, this.source.numClasses, mix.lam, mixup.labelSmoothing);
    } else if (labelSmoothing > 0) {
      targets = mixTargets(labels, this.source.numClasses, 1, labelSmoothing);
    }
    return { images, labels, targets, size };
  }
}
