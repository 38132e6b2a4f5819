#!/usr/bin/env node
// Entry point of the `lape` command: runs the compiled CLI (npm install builds dist/).
import { main } from '../dist/cli/index.js';

// `lape models | head`: a closed pipe ends the output quietly instead of with a stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
