/** Forward FLOPs of a config (2 per multiply-add), counted from its shapes: matmuls and convolutions. */
import { gridSize, prefixTokens, type VitConfig } from './config.js';

export function forwardFlops(cfg: VitConfig): number {
  const d = cfg.embedDim;
  const g = gridSize(cfg);
  const n = g * g;
  const m = n + prefixTokens(cfg.head);
  const hidden = Math.floor(d * cfg.mlpRatio);
  let macs = 0;
  switch (cfg.tokenizer.kind) {
    case 'patch':
      macs += n * d * cfg.inChans * cfg.tokenizer.patchSize ** 2;
      break;
    case 'cct':
      macs += cfg.imgSize * cfg.imgSize * d * cfg.inChans * 9;
      break;
  }
  const perBlock = m * d * 3 * d + 2 * m * m * d + m * d * d + 2 * m * d * hidden;
  macs += cfg.depth * perBlock;
  if (cfg.head.kind === 'sequence-pool') macs += m * d * 2;
  macs += d * cfg.numClasses * (cfg.head.kind === 'distilled' ? 2 : 1);
  return 2 * macs;
}

/** Trainable parameters of a config, counted from its shapes (tests check it against built models). */
export function parameterCount(cfg: VitConfig): number {
  const d = cfg.embedDim;
  const g = gridSize(cfg);
  const n = g * g;
  const prefix = prefixTokens(cfg.head);
  const m = n + prefix;
  const hidden = Math.floor(d * cfg.mlpRatio);
  const norm = 2 * d;
  let count = 0;
  switch (cfg.tokenizer.kind) {
    case 'patch':
      count += d * cfg.inChans * cfg.tokenizer.patchSize ** 2 + d;
      break;
    case 'cct':
      count += d * cfg.inChans * 9;
      break;
  }
  count += prefix * d;
  if (cfg.pe.kind === 'learnable') count += (cfg.join === 'unshare' ? cfg.depth : 1) * m * d;
  let block =
    norm * 2 + 3 * d * d + (cfg.qkvBias ? 3 * d : 0) + d * d + d + d * hidden + hidden + hidden * d + d;
  if (cfg.join === 'LaPE' || cfg.join === 'LaPE-shared') block += norm;
  if (cfg.rpe.kind === '2D') block += (2 * g - 1) ** 2 * cfg.numHeads + (cfg.rpe.join === 'LN' ? 2 * n : 0);
  count += cfg.depth * block + norm;
  if (cfg.head.kind === 'sequence-pool') count += d + 1;
  count += (d + 1) * cfg.numClasses * (cfg.head.kind === 'distilled' ? 2 : 1);
  return count;
}
