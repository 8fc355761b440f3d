/**
 * Builds fedpeft's browser bundle with esbuild, in memory: ES modules (the entry `fedpeft-web.js`, the WebGL
 * backend module, shared chunks), tfjs's wasm binaries, the join page (`index.html`, web/join-page.ts), a
 * device check page (`probe.html`, web/training-probe.ts) and a sample text (`sample-text.txt`, the opening
 * chapters of Moby-Dick) for people who have no text file at hand. The coordinator serves it at `/join`
 * (web/join-route.ts); tests serve it from a loopback server.
 * `node --import tsx web/build.ts <dir>` writes it to a folder.
 *
 * Node-only code must never reach a browser: the build fails with the import chain when a `*.node.ts` file or a
 * Node-only package (the `webgpu` addon, tfjs-node, the socket.io server, ...) gets in, and turns esbuild's
 * "built into node" errors for `fs`, `path`, ... into the same clear error.
 */
import { build, type Message, type Metafile } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { FedpeftError } from '../shared/errors.ts';
import { loadMobyDickCorpus } from '../shared/data/moby-dick-corpus.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's main module; the page loads it and it defines `window.fedpeft`. */
export const ENTRY_FILE = 'fedpeft-web.js';
/** The module the import map resolves `@tensorflow/tfjs-backend-webgl` to. */
export const WEBGL_FILE = 'tfjs-backend-webgl.js';
/** The device check page (backends + a short training run). */
export const PROBE_PAGE = 'probe.html';
/** The text the join page offers when a person has no file at hand. */
export const SAMPLE_TEXT_FILE = 'sample-text.txt';
/** Moby-Dick sections in the sample (~20 KB of prose, a few hundred paragraphs' worth of windows). */
const SAMPLE_CHAPTERS = ['chapter-1', 'chapter-2'];
const WASM_BINARIES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];

/**
 * Packages that only work in Node. Matched against the bundle's resolved input paths, so a transitive import
 * through any number of files is caught.
 */
const NODE_ONLY_PACKAGES = [
  'webgpu',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  'socket.io',
  'engine.io',
  'ws',
  'bufferutil',
  'write-file-atomic',
  'piscina',
  'playwright-core',
  'esbuild',
  'tsx',
];

export interface BundleFile {
  body: Uint8Array;
  contentType: string;
}

export interface BrowserBundle {
  /** Every file by its path relative to the bundle root (`index.html`, `fedpeft-web.js`, `*.wasm`, ...). */
  files: Map<string, BundleFile>;
  /** Source files that went into the bundle, relative to the repository root (for audits and tests). */
  inputs: string[];
  buildMs: number;
}

export interface BuildBrowserBundleOptions {
  /** Minify the JavaScript. Default true (what is served); tests may turn it off for readable stacks. */
  minify?: boolean;
  /** Extra entry modules (path relative to the repo root -> output name), e.g. a test page's own module. */
  extraEntries?: Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return CONTENT_TYPES[dot >= 0 ? path.slice(dot) : ''] ?? 'application/octet-stream';
}

/** Every page's head: an import map for the optional modules backend.ts loads by name, then the bundle. */
function pageHead(title: string): string {
  const importMap = JSON.stringify({ imports: { '@tensorflow/tfjs-backend-webgl': `./${WEBGL_FILE}` } });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<script type="importmap">${importMap}</script>
<script type="module" src="./${ENTRY_FILE}"></script>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
  pre { background: #f4f4f4; padding: .5rem; white-space: pre-wrap; font-size: 13px; }
  fieldset { margin: .8rem 0; border: 1px solid #ccc; }
  #error { color: #a00; }
  progress { width: 20rem; }
</style>
</head>
<body>`;
}

/** The join page (served at `/join/`); web/join-page.ts gives it life. */
export function indexHtml(): string {
  return `${pageHead('fedpeft — join a federated run')}
<h1>Join a federated fine-tuning run</h1>
<p>Your text stays in this browser: only the adapter's shared update is sent. This tab is client
<b id="client-name"></b>; its private state is kept in this browser, so a reload resumes.</p>
<fieldset><legend>This device</legend>
<p id="backend-note"></p>
<pre id="backends"></pre>
</fieldset>
<fieldset><legend>Your data and the run</legend>
<p><label>A text file: <input type="file" id="file" accept=".txt,.md,text/plain"></label>
 or <button id="use-sample">use the sample text</button> &nbsp; <span id="data-status"></span></p>
<p><label>Join token: <input id="token" size="40" autocomplete="off"></label>
 <button id="join" disabled>Join</button> <button id="leave" disabled>Leave</button></p>
</fieldset>
<fieldset><legend>Progress</legend>
<p id="state"></p>
<p id="round"></p>
<pre id="losses"></pre>
<p>Upload: <progress id="upload" value="0" max="1"></progress> <span id="upload-text"></span></p>
<p id="contribution"></p>
<p id="error"></p>
<details><summary>Log</summary><pre id="log"></pre></details>
</fieldset>
<p><a href="./${PROBE_PAGE}">Check this device</a> (backends and a short training run, no server needed)</p>
<script type="module">window.fedpeft.mountJoinPage(document);</script>
</body>
</html>
`;
}

/** The device check page: which backends exist, then a few PiCa steps on the best one. */
export function probeHtml(): string {
  return `${pageHead('fedpeft — check this device')}
<h1>fedpeft</h1>
<p id="status">Nothing runs until you ask: this checks which backends this browser offers, then trains a tiny
model with a PiCa adapter for a few steps on the best one.</p>
<button id="check">Check this device</button>
<pre id="backends"></pre>
<pre id="log"></pre>
<script type="module">
  // Runs only on a click: a page that probes on load would race with anyone driving window.fedpeft.
  const $ = (id) => document.getElementById(id);
  $('check').onclick = async () => {
    $('check').disabled = true;
    try {
      const report = await window.fedpeft.probeBackends();
      $('backends').textContent = report.candidates
        .map((c) => (c.available ? 'yes ' : 'no  ') + c.name + ': ' + c.reason)
        .join('\\n');
      $('log').textContent = 'training on ' + report.chosen + '...';
      const r = await window.fedpeft.runTrainingProbe(report.chosen === 'webgpu' ? { deriveOn: 'wasm' } : {});
      $('log').textContent = r.losses
        .map((l, i) => 'step ' + i + ': loss ' + l.toFixed(4) + ' (' + r.stepMs[i].toFixed(1) + ' ms)')
        .join('\\n');
    } catch (err) {
      $('log').textContent = String(err);
    } finally {
      $('check').disabled = false;
    }
  };
</script>
</body>
</html>
`;
}

/** The chain of imports from an entry point to `target` in esbuild's metafile (for error messages). */
export function importChain(metafile: Metafile, target: string): string[] {
  const importers = new Map<string, string>();
  const queue: string[] = [];
  for (const out of Object.values(metafile.outputs)) {
    if (out.entryPoint && !importers.has(out.entryPoint)) {
      importers.set(out.entryPoint, '');
      queue.push(out.entryPoint);
    }
  }
  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (file === target) break;
    for (const imp of metafile.inputs[file]?.imports ?? []) {
      if (!importers.has(imp.path)) {
        importers.set(imp.path, file);
        queue.push(imp.path);
      }
    }
  }
  if (!importers.has(target)) return [target];
  const chain = [target];
  for (let at = importers.get(target); at; at = importers.get(at)) chain.unshift(at);
  return chain;
}

function packageOf(input: string): string | null {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m ? (m[1] as string) : null;
}

/** Inputs that must not be in a browser bundle, each with the reason. */
export function nodeOnlyInputs(inputs: readonly string[]): { input: string; why: string }[] {
  const found: { input: string; why: string }[] = [];
  for (const input of inputs) {
    if (/\.node\.ts$/.test(input)) found.push({ input, why: 'a *.node.ts file is Node-only by convention' });
    const pkg = packageOf(input);
    if (pkg && NODE_ONLY_PACKAGES.includes(pkg))
      found.push({ input, why: `package ${pkg} runs only in Node` });
  }
  return found;
}

function nodeBuiltinError(errors: readonly Message[]): FedpeftError | null {
  const hits = errors.filter((e) =>
    /built into node|node:/i.test(`${e.text} ${e.notes.map((n) => n.text).join(' ')}`),
  );
  if (hits.length === 0) return null;
  const lines = hits.map((e) => `  ${e.location?.file ?? '?'}:${e.location?.line ?? '?'}: ${e.text}`);
  return new FedpeftError(
    'NODE_MODULE_IN_BROWSER_BUNDLE',
    `The browser bundle imports Node built-in modules (move that code to a *.node.ts file or behind a ` +
      `platform check):\n${lines.join('\n')}`,
  );
}

/** Build the bundle in memory. Throws a FedpeftError when Node-only code would enter it. */
export async function buildBrowserBundle(options: BuildBrowserBundleOptions = {}): Promise<BrowserBundle> {
  const t0 = performance.now();
  const entryPoints: Record<string, string> = {
    [ENTRY_FILE.replace(/\.js$/, '')]: join(REPO_ROOT, 'web/browser-entry.ts'),
    // backend.ts imports the WebGL backend by name at run time (an optional import esbuild cannot follow); the
    // package becomes its own module and the page's import map resolves the name to it.
    [WEBGL_FILE.replace(/\.js$/, '')]: '@tensorflow/tfjs-backend-webgl',
  };
  for (const [path, name] of Object.entries(options.extraEntries ?? {})) {
    entryPoints[name.replace(/\.js$/, '')] = join(REPO_ROOT, path);
  }
  let result;
  try {
    result = await build({
      absWorkingDir: REPO_ROOT,
      entryPoints,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outdir: 'web-bundle',
      chunkNames: 'chunks/[name]-[hash]',
      write: false,
      metafile: true,
      minify: options.minify ?? true,
      logLevel: 'silent',
      // tfjs reads process.env.NODE_ENV-style flags only behind platform checks; nothing else needs defining.
      define: { 'process.env.NODE_ENV': '"production"' },
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    throw nodeBuiltinError(errors) ?? err;
  }
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = nodeOnlyInputs(inputs);
  if (forbidden.length > 0) {
    const details = forbidden.map(
      ({ input, why }) => `  ${input} (${why})\n    via ${importChain(result.metafile, input).join(' -> ')}`,
    );
    throw new FedpeftError(
      'NODE_MODULE_IN_BROWSER_BUNDLE',
      `Node-only code would enter the browser bundle:\n${details.join('\n')}`,
    );
  }

  const files = new Map<string, BundleFile>();
  const outRoot = join(REPO_ROOT, 'web-bundle');
  for (const out of result.outputFiles) {
    const path = relative(outRoot, out.path).split('\\').join('/');
    files.set(path, { body: out.contents, contentType: contentTypeOf(path) });
  }
  const text = (body: string, name: string): BundleFile => ({
    body: new TextEncoder().encode(body),
    contentType: contentTypeOf(name),
  });
  files.set('index.html', text(indexHtml(), 'index.html'));
  files.set(PROBE_PAGE, text(probeHtml(), PROBE_PAGE));
  files.set(SAMPLE_TEXT_FILE, text(sampleText(), SAMPLE_TEXT_FILE));
  const wasmDir = dirname(
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'),
  );
  for (const name of WASM_BINARIES) {
    files.set(name, { body: await readFile(join(wasmDir, 'dist', name)), contentType: contentTypeOf(name) });
  }
  return { files, inputs, buildMs: performance.now() - t0 };
}

/** Public-domain prose for the join page's "use the sample text" (paragraphs separated by blank lines). */
export function sampleText(): string {
  return loadMobyDickCorpus()
    .documents.filter((d) => SAMPLE_CHAPTERS.includes(d.id))
    .map((d) => d.text)
    .join('\n\n');
}

/** Write a built bundle to a folder (e.g. to serve it with any static file server). */
export async function writeBrowserBundle(bundle: BrowserBundle, outDir: string): Promise<void> {
  for (const [path, file] of bundle.files) {
    const target = join(outDir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.body);
  }
}

// `node --import tsx web/build.ts <outDir>`: build and write the bundle.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2] ?? 'web-dist';
  const bundle = await buildBrowserBundle();
  await writeBrowserBundle(bundle, outDir);
  const bytes = [...bundle.files.values()].reduce((n, f) => n + f.body.length, 0);
  console.log(
    `wrote ${bundle.files.size} files (${(bytes / 1e6).toFixed(1)} MB) to ${outDir} in ${bundle.buildMs.toFixed(0)} ms; ` +
      `serve the folder and open ${basename(outDir)}/index.html`,
  );
}
