import type { Command } from 'commander';
import { selectBackend, type BackendReport } from '../../shared/tensor/backend.ts';
import type { CliCommand } from './registry.ts';

function formatReport(r: BackendReport): string {
  const lines = [
    `fedpeft doctor — TensorFlow.js ${r.tfjsVersion} on ${r.platform} ${process.version}`,
    '',
    'Backends, in order of preference:',
  ];
  for (const c of r.candidates) {
    const mark = c.name === r.chosen ? '->' : c.available ? ' +' : ' -';
    lines.push(`  ${mark} ${c.name.padEnd(14)} ${c.available ? 'available  ' : 'unavailable'}  ${c.reason}`);
  }
  lines.push('', `Chosen: ${r.chosen}${r.forced ? ' (forced by --backend / FEDPEFT_BACKEND)' : ''}`);
  const webgpu = r.candidates.find((c) => c.name === 'webgpu');
  if (r.platform === 'node' && webgpu?.available)
    lines.push(
      "Dawn's 'Warning: ... artificially reduced ...' lines on stderr come from probing WebGPU (native code,",
      'harmless); only doctor and --backend webgpu probe it.',
    );
  if (r.wasmSimd !== null)
    lines.push(`wasm SIMD: ${r.wasmSimd ? 'yes' : 'no'}, wasm threads: ${r.wasmThreads ? 'yes' : 'no'}`);
  return lines.join('\n');
}

export const doctorCommand: CliCommand = {
  name: 'doctor',
  register(program: Command) {
    program
      .command('doctor')
      .description('check which TensorFlow.js backends work here and which one fedpeft will use')
      .option('--json', 'print one JSON object instead of a table')
      .addHelpText(
        'after',
        '\nExamples:\n  fedpeft doctor\n  fedpeft doctor --json\n  FEDPEFT_BACKEND=cpu fedpeft doctor',
      )
      .action(async (opts: { json?: boolean }, cmd: Command) => {
        const backend = cmd.optsWithGlobals<{ backend?: string }>().backend;
        const report = await selectBackend({ force: backend, probeAll: true });
        process.stdout.write(
          opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`,
        );
      });
  },
};
