/**
 * Load a PyTorch checkpoint (the reference code's or lape's) and classify images with it.
 *
 *   node --import tsx examples/predict.ts CHECKPOINT.pth MODEL JOIN IMAGE...
 *   e.g. examples/predict.ts deit_tiny_lape.pth deit_tiny_patch16_224 LaPE cat.jpg dog.png
 *
 * The checkpoint's class count is read from its head; images go through the model's eval transform
 * (resize, center crop above 32 px, ImageNet normalization). Prints the top-5 classes of each image as
 * one JSON line.
 */
import { classifyImages, loadCheckpoint, type JoinKind } from 'lape';

const [checkpoint, modelName, join, ...images] = process.argv.slice(2);
if (!checkpoint || !modelName || !join || images.length === 0) {
  console.error('usage: examples/predict.ts CHECKPOINT.pth MODEL JOIN IMAGE...');
  process.exit(2);
}

// Strict: a checkpoint that does not match the model (wrong PE, join or size) fails naming the keys.
const { model } = loadCheckpoint(checkpoint, { model: modelName, overrides: { join: join as JoinKind } });
const { top } = await classifyImages(model, images, { k: 5 });
images.forEach((image, i) => console.log(JSON.stringify({ image, top: top[i] })));
model.dispose();
