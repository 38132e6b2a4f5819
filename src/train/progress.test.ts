/** The Ctrl-C notice and the progress bar: the notice is not redrawn over (issue 14 §8). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { announce, createProgress } from './progress.js';

/** A stand-in terminal: records what is written, with the cursor calls cli-progress makes. */
function terminal(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream & Record<string, unknown>;
  Object.assign(w, {
    isTTY: true,
    columns: 120,
    cursorTo: (x: number) => ((out += `<cursor ${x}>`), true),
    clearLine: () => ((out += '<clear>'), true),
    moveCursor: () => true,
    clearScreenDown: () => true,
  });
  return { stream: w, text: () => out };
}

it('a notice during a progress bar stays on screen: the bar stops and draws no more', () => {
  const t = terminal();
  const p = createProgress('epoch 1/3', 10, { stream: t.stream });
  p.update(3, { loss: '1.0' });
  announce('interrupt: finishing the current step', t.stream);
  const at = t.text().length;
  p.update(4, { loss: '0.9' });
  p.stop();
  assert.equal(t.text().length, at, 'nothing is drawn after the notice');
  assert.match(t.text(), /\ninterrupt: finishing the current step\n$/);
});
