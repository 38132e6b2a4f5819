/**
 * The `lape` command line. Each command parses its flags into typed config and calls the library;
 * errors are printed as one clear line (set LAPE_DEBUG=1 for the stack), sanitized: whatever an error
 * quotes from a file or a flag, no control character reaches the terminal and no line runs past 400
 * characters.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { setNumThreads } from '../backend/registry.js';
import { parseByteSize, setDefaultReadLimits } from '../io/limits.js';
import { sanitizeMessage } from '../io/sanitize.js';
import { LAPE_VERSION } from '../version.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { modelsCommand } from './models.js';
import { int } from './options.js';
import { predictCommand } from './predict.js';
import { normalizeSpelling } from './spelling.js';
import { studyCommand } from './study.js';
import { trainCommand } from './train.js';
import { visualizeCommand, comparePeCommand } from './visualize.js';

export function buildProgram(): Command {
  const program = new Command('lape')
    .description('Vision Transformers with Layer-adaptive Position Embedding: train, evaluate, inspect')
    .version(LAPE_VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(sanitizeMessage(s, { maxLines: 40 })) })
    .addOption(
      new Option(
        '--max-checkpoint-bytes <size>',
        'memory one checkpoint read may use, e.g. 24G (default 8G; views that expand their storage: 256M)',
      )
        .env('LAPE_MAX_CHECKPOINT_BYTES')
        .argParser((v) => {
          try {
            return parseByteSize(v, '--max-checkpoint-bytes');
          } catch (err) {
            throw new InvalidArgumentError((err as Error).message);
          }
        }),
    )
    .hook('preAction', (cmd) => {
      const max = cmd.opts<{ maxCheckpointBytes?: number }>().maxCheckpointBytes;
      // Raising the cap for a genuinely huge checkpoint raises the allowance for expanded views with it.
      if (max !== undefined) setDefaultReadLimits({ maxBytes: max, maxExpandedBytes: max });
    })
    .exitOverride();
  for (const cmd of [
    trainCommand(),
    evalCommand(),
    predictCommand(),
    modelsCommand(),
    visualizeCommand(),
    comparePeCommand(),
    studyCommand(),
    exportCommand(),
  ]) {
    cmd.addOption(
      new Option(
        '--threads <n>',
        'threads of the compute kernels (default: LAPE_NUM_THREADS, else all cores)',
      )
        .argParser(int('--threads', 1))
        .env('LAPE_NUM_THREADS'),
    );
    program.addCommand(
      cmd
        .exitOverride()
        .showHelpAfterError('(run with --help for usage)')
        .configureOutput({ writeErr: (s) => process.stderr.write(sanitizeMessage(s, { maxLines: 40 })) }),
    );
  }
  program.hook('preAction', (_program, command) => {
    const threads = command.opts<{ threads?: number }>().threads;
    if (threads !== undefined) setNumThreads(threads);
  });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const program = buildProgram();
    await program.parseAsync(normalizeSpelling(program, argv), { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (help, version, unknown flag, bad value).
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    // The last line of defence: every message is sanitized, whatever produced it.
    process.stderr.write(`${sanitizeMessage(`lape: ${message}`)}\n`);
    if (process.env.LAPE_DEBUG && err instanceof Error) {
      process.stderr.write(`${sanitizeMessage(err.stack ?? '', { maxLines: 60 })}\n`);
    }
    return 1;
  }
}
