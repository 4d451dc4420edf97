#!/usr/bin/env node
// The `governor` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('governor: dist/ is missing; run `npm run build` (npm install does it for you)\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main();
