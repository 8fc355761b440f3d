/**
 * Writes docs/scenarios.md from the scenario schema (`npm run docs:scenarios`). With `--check` it writes
 * nothing and exits 1 when the file is out of date (for CI). The markdown goes through prettier with the
 * project's settings, so `npm run format` leaves the generated file unchanged.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import writeFileAtomic from 'write-file-atomic';
import { renderScenarioDocs } from './scenario-docs.ts';

export const SCENARIO_DOCS_PATH = fileURLToPath(new URL('../../docs/scenarios.md', import.meta.url));

export async function expectedScenarioDocs(): Promise<string> {
  const config = (await resolveConfig(SCENARIO_DOCS_PATH)) ?? {};
  return format(renderScenarioDocs(), { ...config, filepath: SCENARIO_DOCS_PATH });
}

function currentScenarioDocs(): string {
  try {
    return readFileSync(SCENARIO_DOCS_PATH, 'utf8');
  } catch {
    return ''; // a missing file is simply out of date
  }
}

async function main(): Promise<void> {
  const expected = await expectedScenarioDocs();
  if (process.argv.includes('--check')) {
    if (currentScenarioDocs() !== expected) {
      process.stderr.write(`${SCENARIO_DOCS_PATH} is out of date: run npm run docs:scenarios\n`);
      process.exitCode = 1;
    }
    return;
  }
  await writeFileAtomic(SCENARIO_DOCS_PATH, expected);
  process.stdout.write(`wrote ${SCENARIO_DOCS_PATH}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
