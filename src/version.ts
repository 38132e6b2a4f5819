/** lape's version, read from its package.json (one source of truth for `lape --version` and exports). */
import { readFileSync } from 'node:fs';

// src/version.ts and dist/version.js are both one folder below the package root.
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const LAPE_VERSION: string = pkg.version;
