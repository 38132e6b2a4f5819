/**
 * Opening the checkpoint a command names (a path, a .safetensors file or an http(s) URL), with a
 * download progress bar on stderr when a URL is fetched (rate and size on a terminal, plain lines in
 * logs). The model itself is resolved by src/checkpoint/model_config.ts.
 */
import cliProgress from 'cli-progress';
import { openCheckpoint, type Checkpoint } from '../checkpoint/read.js';

const MB = 1024 * 1024;

/** Reports a download's progress on stderr; returns the callbacks to pass to the downloader. */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): {
  onStart: (url: string, target: string) => void;
  onProgress: (received: number, total: number | null) => void;
  done: () => void;
} {
  let bar: cliProgress.SingleBar | null = null;
  let last = 0;
  let start = 0;
  return {
    onStart(url, target) {
      start = performance.now();
      stream.write(`downloading ${url} to ${target}\n`);
    },
    onProgress(received, total) {
      const secs = Math.max(1e-3, (performance.now() - start) / 1000);
      const rate = `${(received / MB / secs).toFixed(1)} MB/s`;
      if (stream.isTTY && total !== null) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: 'download [{bar}] {percentage}% | {mb} / {totalMb} MB | {rate} | ETA {eta_formatted}',
              stream,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, 0, { mb: '0.0', totalMb: (total / MB).toFixed(1), rate });
        }
        bar.update(received, { mb: (received / MB).toFixed(1), rate });
      } else if (performance.now() - last > 10_000 || received === total) {
        last = performance.now();
        stream.write(
          `download ${(received / MB).toFixed(1)}${total !== null ? ` / ${(total / MB).toFixed(1)}` : ''} MB  ${rate}\n`,
        );
      }
    },
    done() {
      bar?.stop();
      bar = null;
    },
  };
}

/** Opens a checkpoint for a command, showing download progress unless `progress` is false. */
export async function openCheckpointForCli(
  spec: string,
  progress = true,
  opts: { key?: string; signal?: AbortSignal } = {},
): Promise<Checkpoint> {
  const p = progress ? downloadProgress() : null;
  try {
    return await openCheckpoint(spec, {
      key: opts.key,
      signal: opts.signal,
      onStart: p?.onStart,
      onProgress: p?.onProgress,
    });
  } finally {
    p?.done();
  }
}
