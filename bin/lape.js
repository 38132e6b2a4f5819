#!/usr/bin/env node
// Entry point of the `lape` command: runs the compiled CLI (npm install builds dist/).
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
