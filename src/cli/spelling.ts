/**
 * Both spellings of every flag: the reference writes some flags with underscores (`--num_workers`,
 * `--output_dir`, `--start_epoch`, `--world_size`, `--dist_url`) and one in camel case
 * (`--ThreeAugment`); lape's canonical spelling uses dashes. Before parsing, a flag the command does
 * not know is matched against its flags ignoring case, dashes and underscores, and rewritten to the
 * canonical one (`--num_workers 4` -> `--num-workers 4`, `--output-dir` and `--output_dir` alike).
 * Explicit aliases cover spellings that differ otherwise (`--dr` for `--decay-rate`).
 */
import type { Command } from 'commander';

const ALIASES: Record<string, string> = { '--dr': '--decay-rate' };

const key = (flag: string): string => flag.replace(/^--/, '').replace(/[-_]/g, '').toLowerCase();

/** Rewrites the flags of `argv` (a command and its arguments) to the spelling `program` knows. */
export function normalizeSpelling(program: Command, argv: readonly string[]): string[] {
  const cmd = program.commands.find((c) => c.name() === argv[0] || c.aliases().includes(argv[0] ?? ''));
  if (!cmd) return [...argv];
  const known = new Set<string>();
  const byKey = new Map<string, string | null>();
  for (const o of cmd.options) {
    if (!o.long) continue;
    known.add(o.long);
    const k = key(o.long);
    byKey.set(k, byKey.has(k) && byKey.get(k) !== o.long ? null : o.long);
  }
  const out = [argv[0]];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const rest = eq < 0 ? '' : arg.slice(eq);
    let canonical = name;
    if (!known.has(name)) {
      const alias = ALIASES[name];
      if (alias && known.has(alias)) canonical = alias;
      else canonical = byKey.get(key(name)) ?? name;
    }
    out.push(canonical + rest);
  }
  return out;
}
