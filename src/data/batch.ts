/** What the training engine consumes: one collated, augmented batch. */
export interface Batch {
  /** [size, C, H, W], normalized. */
  readonly images: Float32Array;
  /** [size] class indices (the un-mixed labels, also when targets are soft). */
  readonly labels: Int32Array;
  /** [size, numClasses] soft targets when mixup/cutmix or label smoothing produced them, else null. */
  readonly targets: Float32Array | null;
  readonly size: number;
}
