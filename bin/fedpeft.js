#!/usr/bin/env node
// The fedpeft CLI. Sources are TypeScript run through tsx's loader, so there is no build step to forget and
// no stale dist/ to debug: `npm install` is all a fresh checkout needs.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
