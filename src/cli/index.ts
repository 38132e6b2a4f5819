/**
 * The `lape` command line. Each command parses its flags into typed config and calls the library;
 * errors are printed as one clear line (set LAPE_DEBUG=1 for the stack).
 */
import { Command, CommanderError, Option } from 'commander';
import { setNumThreads } from '../backend/registry.js';
import { LAPE_VERSION } from '../version.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { modelsCommand } from './models.js';
import { int } from './options.js';
import { predictCommand } from './predict.js';
import { studyCommand } from './study.js';
import { trainCommand } from './train.js';
import { visualizeCommand, comparePeCommand } from './visualize.js';

export function buildProgram(): Command {
  const program = new Command('lape')
    .description('Vision Transformers with Layer-adaptive Position Embedding: train, evaluate, inspect')
    .version(LAPE_VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
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
    program.addCommand(cmd.exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  program.hook('preAction', (_program, command) => {
    const threads = command.opts<{ threads?: number }>().threads;
    if (threads !== undefined) setNumThreads(threads);
  });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (help, version, unknown flag, bad value).
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`lape: ${e.message}\n`);
    if (process.env.LAPE_DEBUG) process.stderr.write(`${e.stack ?? ''}\n`);
    return 1;
  }
}
