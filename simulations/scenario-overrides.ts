/**
 * `--set key=value` overrides on top of a scenario file, e.g. `--set training.rounds=3`,
 * `--set method.name=lora`, `--set compare.methods=[pica,lora]`, `--set devices.classes.0.speed=0.5`.
 * The value is read as YAML, so numbers, booleans, lists and `{a: 1}` blocks come out typed exactly as they
 * would in the file, and the result is validated by the same schema.
 */
import { parse as parseYaml } from 'yaml';
import { FedpeftError } from '../shared/errors.ts';

export interface Override {
  path: string[];
  value: unknown;
  /** The flag it came from, as the user typed it (`--set training.rounds=six`, `--out runs/x`): errors name it. */
  source?: string;
}

const FORM = 'use --set <dotted.path>=<value>, e.g. --set training.rounds=3 or --set method.name=lora';

export function parseOverride(text: string): Override {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new FedpeftError('INVALID_OVERRIDE', `invalid --set ${JSON.stringify(text)}: ${FORM}`);
  const key = text.slice(0, eq).trim();
  const path = key.split('.');
  if (path.some((p) => p === ''))
    throw new FedpeftError(
      'INVALID_OVERRIDE',
      `invalid --set ${JSON.stringify(text)}: empty path segment; ${FORM}`,
    );
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    // An empty value means the empty string, not YAML's null (which would silently unset the field).
    value = raw.trim() === '' ? '' : parseYaml(raw);
  } catch (err) {
    throw new FedpeftError(
      'INVALID_OVERRIDE',
      `invalid --set ${JSON.stringify(text)}: the value is not valid YAML (${(err as Error).message.split('\n')[0]})`,
    );
  }
  return { path, value, source: `--set ${text}` };
}

function isBlock(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

/** A copy of `raw` with every override applied in order; missing blocks along a path are created. */
export function applyOverrides(raw: unknown, overrides: readonly (string | Override)[]): unknown {
  const root: unknown = structuredClone(raw ?? {});
  if (!isBlock(root) || Array.isArray(root))
    throw new FedpeftError('INVALID_SCENARIO', 'a scenario must be a YAML mapping (key: value lines)');
  for (const item of overrides) {
    const override = typeof item === 'string' ? parseOverride(item) : item;
    try {
      setAt(root, override.path, override.value);
    } catch (err) {
      // Name the flag the override came from: the error is in what the user typed there.
      if (override.source && err instanceof FedpeftError)
        throw new FedpeftError(err.code, `${override.source}: ${err.message}`);
      throw err;
    }
  }
  return root;
}

function setAt(root: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> | unknown[] = root;
  for (const [i, segment] of path.entries()) {
    const key: string | number = Array.isArray(node) ? indexOf(segment, path) : segment;
    const last = i === path.length - 1;
    const container = node as Record<string | number, unknown>;
    if (last) {
      container[key] = value;
      break;
    }
    const next: unknown = container[key];
    if (next === undefined || next === null) {
      // A numeric next segment (`classes.0.speed`) means the missing block is a list.
      const fresh: Record<string, unknown> | unknown[] = /^\d+$/.test(path[i + 1] as string) ? [] : {};
      container[key] = fresh;
      node = fresh;
    } else if (isBlock(next)) {
      node = next;
    } else {
      throw new FedpeftError(
        'INVALID_OVERRIDE',
        `cannot set ${path.join('.')}: ${path.slice(0, i + 1).join('.')} is ${JSON.stringify(next)}, not a block`,
      );
    }
  }
}

function indexOf(segment: string, path: string[]): number {
  if (!/^\d+$/.test(segment))
    throw new FedpeftError(
      'INVALID_OVERRIDE',
      `cannot set ${path.join('.')}: '${segment}' indexes a list, so it must be a number (0 is the first item)`,
    );
  return Number(segment);
}
