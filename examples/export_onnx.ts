/**
 * Export a checkpoint to ONNX and run it in onnxruntime-node (`npm i onnxruntime-node`), checking that
 * it computes what lape computes.
 *
 *   node --import tsx examples/export_onnx.ts CHECKPOINT.pth OUT.onnx [MODEL JOIN]
 *
 * The ONNX graph: input `pixel_values` float32 [batch, C, H, W] (normalized), output `logits`
 * [batch, classes]; the batch dimension is dynamic.
 */
import * as ort from 'onnxruntime-node';
import { loadCheckpoint, predict, saveOnnx, ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, type JoinKind } from 'lape';

const [checkpoint, out, modelName, joinKind] = process.argv.slice(2);
if (!checkpoint || !out) {
  console.error('usage: examples/export_onnx.ts CHECKPOINT.pth OUT.onnx [MODEL JOIN]');
  process.exit(2);
}
const { model } = loadCheckpoint(checkpoint, {
  model: modelName,
  overrides: joinKind ? { join: joinKind as JoinKind } : {},
});
const bytes = saveOnnx(out, model);
console.log(`wrote ${out} (${(bytes / 1024).toFixed(0)} KiB)`);

// The same random batch of 4 through both.
const { inChans, imgSize, numClasses } = model.config;
const batch = 4;
const images = Float32Array.from(
  { length: batch * inChans * imgSize * imgSize },
  () => Math.random() * 2 - 1,
);
const ours = predict(model, images);
const session = await ort.InferenceSession.create(out);
const result = await session.run({
  [ONNX_INPUT_NAME]: new ort.Tensor('float32', images, [batch, inChans, imgSize, imgSize]),
});
const theirs = result[ONNX_OUTPUT_NAME].data as Float32Array;
let maxDiff = 0;
for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
console.log(
  JSON.stringify({ shape: result[ONNX_OUTPUT_NAME].dims, classes: numClasses, maxAbsDiff: maxDiff }),
);
model.dispose();
