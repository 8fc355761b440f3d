/**
 * Streaming aggregation throughput: how fast the coordinator folds one client's update into its running
 * weighted sum, against the floor of merely copying the same bytes.
 *
 * - `aggregate.gbps`: `RunningWeightedSum.add` (validation of names, shapes, weight and finite values, then the
 *   float64 fold), in GB/s of float32 input.
 * - `aggregate.memcpy.gbps`: `Float32Array.prototype.set` of the same bytes into a preallocated buffer.
 * - `ratio.aggregate.vs_memcpy`: the first over the second (1 would mean aggregation is as cheap as a copy).
 * - `aggregate.aggregator.gbps`: the same update through `Aggregator` with the weighted-mean rule, the path the
 *   coordinator's strategies use (one more layer: client ids, rule dispatch).
 *
 * The update is 4 tensors of 1M float32 values (16 MB, the same with --quick, which only lowers repetitions);
 * the three are timed interleaved, so load from other processes hits them alike.
 */
import { Aggregator } from '../../shared/aggregation/aggregator.ts';
import { RunningWeightedSum } from '../../shared/aggregation/running-weighted-sum.ts';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import type { HostTensorMap } from '../../shared/tensor/host-tensor.ts';
import { Rng } from '../../shared/tensor/rng.ts';
import { measureInterleaved } from '../harness/timing.ts';
import type { BenchSuite } from '../harness/types.ts';

const TENSORS = 4;
const ROWS = 1024;
const COLS = 1024;

function seededUpdate(rng: Rng): HostTensorMap {
  const update: HostTensorMap = new Map();
  for (let k = 0; k < TENSORS; k++) {
    const data = new Float32Array(ROWS * COLS);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * 0.02;
    update.set(`role.r${k}.B`, { shape: [ROWS, COLS], data });
  }
  return update;
}

export const aggregateSuite: BenchSuite = {
  name: 'aggregate',
  description: 'streaming weighted sum of a 16 MB float32 update vs a memcpy of the same bytes',
  async run(ctx) {
    const update = seededUpdate(new Rng(6).fork('aggregate'));
    const bytes = TENSORS * ROWS * COLS * 4;
    const expected = new Map([...update].map(([name, t]) => [name, t.shape]));
    const rules = new Map<string, AggregationRule>(
      [...update.keys()].map((name) => [name, { kind: 'weighted-mean' }]),
    );
    const sum = new RunningWeightedSum({ expected });
    const aggregator = new Aggregator({ rules });
    const copies = [...update.values()].map((t) => new Float32Array(t.data.length));
    let client = 0;
    const t = measureInterleaved(
      {
        sum: () => sum.add(1 + (client % 3), update),
        aggregator: () => aggregator.add({ clientId: `c${client++}`, weight: 1, tensors: update }),
        memcpy: () => {
          let k = 0;
          for (const tensor of update.values()) copies[k++]!.set(tensor.data);
        },
      },
      { reps: ctx.quick ? 5 : 15, warmup: 2, warmupMs: 300 },
    );
    // Use the results, so no engine could ever skip the work; and check the sum really folded every call.
    const mean = sum.result().get('role.r0.B')!.data[0]!;
    if (!Number.isFinite(mean) || sum.count < 2) throw new Error('the running sum folded nothing');
    const gbps = (ms: number) => bytes / (ms * 1e6);
    ctx.log(`update: ${TENSORS} x [${ROWS}, ${COLS}] float32 = ${(bytes / 1e6).toFixed(1)} MB`);
    ctx.record('aggregate.gbps', gbps(t.sum.medianMs), 'GB/s');
    ctx.record('aggregate.aggregator.gbps', gbps(t.aggregator.medianMs), 'GB/s');
    ctx.record('aggregate.memcpy.gbps', gbps(t.memcpy.medianMs), 'GB/s');
    ctx.record('ratio.aggregate.vs_memcpy', t.memcpy.medianMs / t.sum.medianMs, 'x');
    await Promise.resolve();
  },
};
