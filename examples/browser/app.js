// Classifies a dropped or picked image with a lape model exported to ONNX (`lape export`), in
// onnxruntime-web's WebAssembly backend. model/model.json describes the model:
//   { "model": "model.onnx", "imageSize": 224, "channels": 3,
//     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "classes": ["cat", "dog", ...] }
// Pre-processing follows lape's eval transform: images above 32 px are scaled so the shorter side is
// imageSize / 0.875 and centre-cropped, smaller models get a plain resize (the browser resamples with
// its own filter, not bicubic); grey models use PIL's luma weights.
import * as ort from './ort/ort.wasm.min.mjs';

ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

const status = document.getElementById('status');
const top5 = document.getElementById('top5');
const preview = document.getElementById('preview');
const drop = document.getElementById('drop');

function fail(err) {
  status.textContent = `error: ${err.message ?? err}`;
  status.classList.add('error');
  document.body.dataset.error = '1';
}

function toInput(image, { imageSize: s, channels: c, mean, std }) {
  const ctx = preview.getContext('2d', { willReadFrequently: true });
  preview.width = s;
  preview.height = s;
  const { width: w, height: h } = image;
  if (s > 32) {
    const scale = s / 0.875 / Math.min(w, h);
    const [sw, sh] = [s / scale, s / scale];
    ctx.drawImage(image, (w - sw) / 2, (h - sh) / 2, sw, sh, 0, 0, s, s);
  } else {
    ctx.drawImage(image, 0, 0, s, s);
  }
  preview.hidden = false;
  const rgba = ctx.getImageData(0, 0, s, s).data;
  const plane = s * s;
  const x = new Float32Array(c * plane);
  for (let i = 0; i < plane; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (c === 3) {
      x[i] = (r / 255 - mean[0]) / std[0];
      x[plane + i] = (g / 255 - mean[1]) / std[1];
      x[2 * plane + i] = (b / 255 - mean[2]) / std[2];
    } else {
      const grey = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
      x[i] = (grey / 255 - mean[0]) / std[0];
    }
  }
  return new ort.Tensor('float32', x, [1, c, s, s]);
}

function softmax(logits) {
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function show(probs, classes) {
  const ranked = probs
    .map((p, i) => [i, p])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5);
  top5.replaceChildren(
    ...ranked.map(([i, p]) => {
      const li = document.createElement('li');
      li.dataset.class = String(i);
      li.dataset.prob = String(p);
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, p * 200)}px`;
      li.append(bar, `${classes[i] ?? `class ${i}`}: ${(100 * p).toFixed(1)}%`);
      return li;
    }),
  );
}

async function main() {
  const config = await (await fetch('model/model.json')).json();
  const session = await ort.InferenceSession.create(`model/${config.model}`);
  status.textContent = `model ready: ${config.model} (${config.channels}x${config.imageSize}x${config.imageSize}, ${config.classes?.length ?? '?'} classes)`;
  document.body.dataset.ready = '1';

  async function classify(file) {
    try {
      status.textContent = `classifying ${file.name}…`;
      const image = await createImageBitmap(file, { colorSpaceConversion: 'none' });
      const out = await session.run({ pixel_values: toInput(image, config) });
      show(softmax(Array.from(out.logits.data)), config.classes ?? []);
      status.textContent = `${file.name}: top-5`;
      document.body.dataset.classified = String(Number(document.body.dataset.classified ?? 0) + 1);
    } catch (err) {
      fail(err);
    }
  }

  document.getElementById('file').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) classify(file);
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files?.[0];
    if (file) classify(file);
  });
}

main().catch(fail);
