/**
 * Progress reporting: a bar with rate and ETA on a terminal (cli-progress), plain periodic lines in
 * logs and CI.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields: Record<string, string>): void;
  stop(): void;
}

/** The bar on the terminal now, if any (one at a time: epochs and evaluation run one after another). */
let activeBar: { stream: NodeJS.WriteStream; halt: () => void } | null = null;

/**
 * Writes a line to the terminal without the progress bar redrawing over it: a bar on screen is
 * stopped first (cli-progress redraws at the position it saved, which would overwrite the line), and
 * stays stopped. Without a bar the line is simply written to `stream`.
 */
export function announce(line: string, stream: NodeJS.WriteStream = process.stderr): void {
  const bar = activeBar;
  if (bar) {
    bar.halt();
    bar.stream.write(`${line}\n`);
  } else {
    stream.write(`${line}\n`);
  }
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** `label` names the phase (e.g. `epoch 3/30`); `unit` what `done` counts. */
export function createProgress(
  label: string,
  total: number,
  opts: { stream?: NodeJS.WriteStream; everySeconds?: number } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  const start = performance.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | {fields} | {rate} | ETA {eta_formatted}`,
        stream,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { fields: '', rate: '' });
    let halted = false;
    const self = {
      stream,
      halt: () => {
        if (halted) return;
        halted = true;
        bar.stop();
        if (activeBar === self) activeBar = null;
      },
    };
    activeBar = self;
    return {
      update(done, fields) {
        if (halted) return;
        const secs = (performance.now() - start) / 1000;
        bar.update(done, {
          fields: Object.entries(fields)
            .map(([k, v]) => `${k} ${v}`)
            .join(' '),
          rate: `${(done / secs).toFixed(2)} it/s`,
        });
      },
      stop() {
        self.halt();
      },
    };
  }
  const every = (opts.everySeconds ?? 10) * 1000;
  let last = start;
  const line = (done: number, fields: Record<string, string>): void => {
    const secs = (performance.now() - start) / 1000;
    const rate = done / secs;
    const eta = (total - done) / rate;
    const f = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    stream.write(`${label} ${done}/${total}  ${f}  ${rate.toFixed(2)} it/s  eta ${fmtDuration(eta)}\n`);
  };
  let lastFields: Record<string, string> = {};
  let lastDone = 0;
  return {
    update(done, fields) {
      lastFields = fields;
      lastDone = done;
      const now = performance.now();
      if (now - last >= every || done === total) {
        last = now;
        line(done, fields);
      }
    },
    stop() {
      if (lastDone !== total && lastDone > 0) line(lastDone, lastFields);
    },
  };
}
