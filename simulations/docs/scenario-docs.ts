/**
 * Renders docs/scenarios.md from the scenario schema itself (through zod's JSON Schema export), so the
 * reference cannot drift from what `loadScenario` accepts: every field with its type, default and
 * description, blocks as sections, and one sub-table per variant of the discriminated unions (partition
 * kinds, strategies). `npm run docs:scenarios` writes it; a test fails when the committed file differs.
 */
import { z } from 'zod';
import { scenarioSchema } from '../scenario.ts';
import { listPresets } from '../load-scenario.ts';

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
};

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
}

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

function bounds(s: JsonSchema): string {
  const lo =
    s.exclusiveMinimum !== undefined
      ? `> ${s.exclusiveMinimum}`
      : s.minimum !== undefined && s.minimum > -SAFE_MAX
        ? `>= ${s.minimum}`
        : '';
  const hi =
    s.exclusiveMaximum !== undefined
      ? `< ${s.exclusiveMaximum}`
      : s.maximum !== undefined && s.maximum < SAFE_MAX
        ? `<= ${s.maximum}`
        : '';
  return [lo, hi].filter(Boolean).join(', ');
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const variants = s.oneOf ?? s.anyOf;
  if (variants) return 'one of the variants below';
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'values'}`;
  if (s.type === 'object') return s.properties ? 'block' : 'map';
  const t = Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
  const b = bounds(s);
  return b ? `${t} (${b})` : t;
}

function defaultOf(s: JsonSchema, required: boolean): string {
  if (s.default !== undefined) return `\`${JSON.stringify(s.default)}\``;
  return required ? 'required' : '—';
}

function describe(s: JsonSchema): string {
  return (s.description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(rows: readonly Row[]): string {
  const lines = ['| field | type | default | description |', '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| \`${r.path}\` | ${r.type} | ${r.default} | ${r.description} |`);
  return lines.join('\n');
}

/** The discriminator of a union variant: its first property with a `const`. */
function variantName(v: JsonSchema): string {
  for (const [key, p] of Object.entries(v.properties ?? {}))
    if (p.const !== undefined)
      return `${key}: ${typeof p.const === 'string' ? p.const : JSON.stringify(p.const)}`;
  return 'variant';
}

/** Where fields of schemas reused from other modules are documented (their comments, not `.describe()`). */
const REUSED_SOURCES: Record<string, string> = {
  'data.partition': 'shared/data/partition-options.ts',
};

function section(title: string, node: JsonSchema, prefix: string, out: string[], fallback = ''): void {
  const source = Object.entries(REUSED_SOURCES).find(([p]) => prefix === p || prefix.startsWith(`${p}.`));
  const note = fallback || (source ? `see ${source[1]}` : '');
  const rows: Row[] = [];
  const nested: [string, JsonSchema, string][] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const description = describe(child) || note;
    rows.push({
      path,
      type: typeOf(child),
      default: defaultOf(child, node.required?.includes(key) ?? false),
      description,
    });
    if (child.type === 'object' && child.properties) nested.push([path, child, path]);
    else if (child.type === 'array' && child.items?.properties)
      nested.push([`${path}[]`, child.items, `${path}[]`]);
    else if (child.oneOf ?? child.anyOf) nested.push([path, child, path]);
  }
  const heading = `## ${title}`;
  // Variants of a union share sub-blocks (every partition kind has the same `split`): list each block once.
  if (rows.length && !out.includes(heading)) out.push(heading, describe(node), table(rows));
  for (const [t, child, p] of nested) {
    const variants = child.oneOf ?? child.anyOf;
    if (!variants) {
      section(t, child, p, out, note);
      continue;
    }
    for (const v of variants) if (v.properties) section(`${t} (${variantName(v)})`, v, p, out, note);
  }
}

export function renderScenarioDocs(): string {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = [
    '# Scenarios reference',
    '<!-- Generated from simulations/scenario.ts by `npm run docs:scenarios`; do not edit by hand. -->',
    'A scenario is a YAML file (or a shipped preset) describing one reproducible simulated federation. Run one ' +
      'with `fedpeft simulate <file.yaml>` or `fedpeft simulate --preset <name>`; change any field with ' +
      '`--set path.to.field=value` (the value is read as YAML: `--set compare.methods=[pica,lora]`). Every field ' +
      'below is optional: absent fields take the default shown; `—` means off / not set.',
    `Presets (\`simulations/scenarios/\`): ${listPresets()
      .map((p) => `\`${p}\``)
      .join(', ')}.`,
    'Errors name the file and the field: `quickstart.yaml: training.rounds: training.rounds must be >= 1`.',
  ];
  const top: Row[] = [];
  const blocks: JsonSchema = { properties: {} };
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (child.type === 'object' && child.properties)
      (blocks.properties as Record<string, JsonSchema>)[key] = child;
    top.push({
      path: key,
      type: typeOf(child),
      default: defaultOf(child, false),
      description: describe(child),
    });
  }
  out.push('## Top level', table(top));
  for (const [key, child] of Object.entries(blocks.properties ?? {})) section(key, child, key, out);
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const variants = child.oneOf ?? child.anyOf;
    if (!variants) continue;
    for (const v of variants) {
      if (!v.properties) continue;
      const name = variantName(v);
      const file = key === 'strategy' ? `see server/strategies/${name.replace(/^name: /, '')}.ts` : '';
      section(`${key} (${name})`, v, key, out, file);
    }
  }
  return `${out.filter((s) => s !== '').join('\n\n')}\n`;
}
