import { describe, expect, it } from 'vitest';
import { LiveRoundTable } from './live-table.ts';
import { roundMetricsSchema } from './run-records.ts';
import { fakeRound } from './test-fixtures.ts';

describe('LiveRoundTable', () => {
  it('prints the header once, then one aligned line per round', () => {
    let out = '';
    const table = new LiveRoundTable('language-model', (t) => (out += t));
    table.print(roundMetricsSchema.parse(fakeRound(1)));
    table.print(roundMetricsSchema.parse(fakeRound(2, { global_val_ppl: null })));
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /round\s+clients\s+dropped\s+train loss\s+global ppl\s+personal ppl\s+up\s+down\s+time/,
    );
    expect(lines[2]).toMatch(
      /^\s+1\s+3\/4\s+1\s+2\.400\s+9\.974\s+8\.846\s+39\.1 KiB\s+156\.3 KiB\s+1\.5 s$/,
    );
    expect(lines[3]).toContain('—');
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });

  it('shows accuracy for classifiers and epsilon when DP is on', () => {
    const table = new LiveRoundTable('classification', () => {}, { dp: true });
    expect(table.header()).toMatch(/global acc\s+personal acc.*epsilon/);
    expect(
      table.row(roundMetricsSchema.parse(fakeRound(1, { global_val_accuracy: 0.91, epsilon: 1.234 }))),
    ).toMatch(/0\.910.*1\.23$/);
  });
});
