/**
 * Reads a scenario from a preset name (`quickstart`) or a YAML file, applies `--set` overrides, validates it
 * and reports every problem as `file: path.to.field: message` lines (YAML syntax errors as
 * `file:line:column: message`), so a person can fix all of them in one go.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { issueLines } from '../shared/config/format-error.ts';
import { FedpeftError } from '../shared/errors.ts';
import { scenarioSchema, type Scenario } from './scenario.ts';
import { applyOverrides, parseOverride, type Override } from './scenario-overrides.ts';

export const PRESETS_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

export interface LoadedScenario {
  scenario: Scenario;
  /** The file it was read from (a preset's path inside the package for presets). */
  source: string;
  /** The preset name when one was given. */
  preset?: string;
}

/** The names of the shipped presets, sorted. */
export function listPresets(): string[] {
  return readdirSync(PRESETS_DIR)
    .filter((f) => extname(f) === '.yaml')
    .map((f) => basename(f, '.yaml'))
    .sort();
}

function looksLikePath(ref: string): boolean {
  return ref.includes('/') || ref.includes('\\') || /\.ya?ml$/i.test(ref);
}

/** A preset name or a path -> the file to read; unknown names list the presets. */
export function resolveScenarioFile(ref: string): { file: string; preset?: string } {
  if (!looksLikePath(ref)) {
    const file = resolve(PRESETS_DIR, `${ref}.yaml`);
    if (existsSync(file)) return { file, preset: ref };
    if (!existsSync(ref))
      throw new FedpeftError(
        'UNKNOWN_SCENARIO',
        `no preset or file named '${ref}'; presets: ${listPresets().join(', ')}; or give a path to a .yaml file`,
      );
  }
  const file = resolve(ref);
  if (!existsSync(file)) throw new FedpeftError('UNKNOWN_SCENARIO', `scenario file ${file} does not exist`);
  return { file };
}

/** Parse YAML text; syntax errors become `source:line:col: message` lines. */
export function parseScenarioYaml(text: string, source: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
      const message = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      return `  ${where}: ${message}`;
    });
    throw new FedpeftError('INVALID_SCENARIO', `invalid scenario YAML:\n${lines.join('\n')}`);
  }
  return doc.toJS() ?? {};
}

/**
 * Validate an already-parsed scenario object (after overrides). A problem at a field an override set (or
 * below it) is reported against that override's flag (`--set training.rounds=six: training.rounds: ...`),
 * not against the file, which never said it; the last override of a field wins, as when applying them.
 */
export function validateScenario(
  raw: unknown,
  source: string,
  overrides: readonly Override[] = [],
): Scenario {
  const result = scenarioSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap(issueLines).map(([path, message]) => {
    const segments = path.split('.');
    const setBy = [...overrides]
      .reverse()
      .find((o) => o.path.length <= segments.length && o.path.every((p, i) => p === segments[i]));
    return `  ${setBy ? (setBy.source ?? `--set ${setBy.path.join('.')}`) : source}: ${path}: ${message}`;
  });
  throw new FedpeftError('INVALID_SCENARIO', `invalid scenario:\n${lines.join('\n')}`);
}

export function loadScenario(
  pathOrPreset: string,
  overrides: readonly (string | Override)[] = [],
): LoadedScenario {
  const { file, preset } = resolveScenarioFile(pathOrPreset);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FedpeftError('UNKNOWN_SCENARIO', `cannot read scenario ${file}: ${(err as Error).message}`);
  }
  const parsed = overrides.map((o) => (typeof o === 'string' ? parseOverride(o) : o));
  const raw = applyOverrides(parseScenarioYaml(text, file), parsed);
  const scenario = validateScenario(raw, file, parsed);
  return { scenario, source: file, ...(preset ? { preset } : {}) };
}
