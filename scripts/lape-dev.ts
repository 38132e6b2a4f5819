// Runs the CLI from the TypeScript sources (no build step): node --import tsx scripts/lape-dev.ts ...
import { main } from '../src/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
