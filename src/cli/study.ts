/** `lape study`: run a grid of (pe, join, seed) trainings from a study file and summarize them. */
import { join } from 'node:path';
import { Command } from 'commander';
import { loadStudyConfig } from '../study/config.js';
import { defaultOutDir, parseOnly, runStudy } from '../study/run.js';
import { summarize, type StudySummary } from '../study/summary.js';
import { stderrLine, withInterruptSignal } from './options.js';

interface StudyFlags {
  outDir?: string;
  only?: string;
  summarizeOnly?: boolean;
  dataPath?: string;
  progress: boolean;
}

/** Quotes an argument for the command line recorded in results.md only where a shell would need it. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./=,:@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The invocation, rebuilt from the parsed flags, for results.md. */
function commandLine(configPath: string, f: StudyFlags): string {
  const words = ['lape', 'study', configPath];
  if (f.outDir !== undefined) words.push('--out-dir', f.outDir);
  if (f.only !== undefined) words.push('--only', f.only);
  if (f.dataPath !== undefined) words.push('--data-path', f.dataPath);
  if (f.summarizeOnly) words.push('--summarize-only');
  if (!f.progress) words.push('--no-progress');
  return words.map(shellWord).join(' ');
}

function printVerdicts(summary: StudySummary, outDir: string): void {
  for (const c of summary.comparisons) process.stdout.write(`${c.sentence}\n`);
  process.stdout.write(`results: ${join(outDir, 'results.md')}\n`);
}

export function studyCommand(): Command {
  return new Command('study')
    .description(
      'train every (pe, join, seed) of a study file, skipping finished runs and resuming unfinished ones, then write results.md with mean ± std and Welch 95% intervals',
    )
    .argument('<config>', 'study file (JSON), e.g. studies/fmnist.json')
    .option('--out-dir <dir>', 'where the runs and results go (default: runs/study-<name>)')
    .option('--only <filter>', 'run only these grid points, e.g. pe=learnable,join=LaPE,seed=0')
    .option('--summarize-only', 'train nothing: rebuild results.json and results.md from the runs')
    .option('--data-path <dir>', "use this dataset folder instead of the study's dataset.path")
    .option('--no-progress', 'no progress bars inside runs')
    .action(async (configPath: string, f: StudyFlags) => {
      const command = commandLine(configPath, f);
      if (f.summarizeOnly) {
        if (f.only !== undefined) throw new Error('--only and --summarize-only do not go together');
        const config = loadStudyConfig(configPath);
        const outDir = f.outDir ?? defaultOutDir(config);
        printVerdicts(summarize(outDir, config, { command }), outDir);
        return;
      }
      const only = f.only === undefined ? undefined : parseOnly(f.only, loadStudyConfig(configPath));
      const report = await withInterruptSignal((signal) =>
        runStudy(configPath, {
          outDir: f.outDir,
          only,
          progress: f.progress,
          log: stderrLine,
          signal,
          command,
          dataPath: f.dataPath,
        }),
      );
      printVerdicts(report.summary, report.outDir);
      if (report.interrupted) process.exitCode = 130;
    });
}
