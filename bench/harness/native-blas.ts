/**
 * Native sgemm through numpy, single-threaded: the physical reference for what one core can do, against which
 * the wasm rate is judged. Optional by design — python3 or numpy may be absent, and then nothing is recorded.
 */
import { spawnSync } from 'node:child_process';

// Prints one JSON line. Timing in Python itself, so process start-up and imports are not measured.
const SCRIPT = `
import json, sys, time
try:
    import numpy as np
except ImportError:
    print(json.dumps({"skipped": "python3 has no numpy (apt-get install python3-numpy or pip install numpy)"}))
    sys.exit(0)
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
for _ in range(2):
    a @ b
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "numpy": np.__version__}))
`;

export type NativeSgemm = { gflops: number; numpy: string } | { skipped: string };

export function measureNativeSgemm(n: number, reps: number, python = 'python3'): NativeSgemm {
  const single = { OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const r = spawnSync(python, ['-c', SCRIPT, String(n), String(reps)], {
    encoding: 'utf8',
    env: { ...process.env, ...single },
    timeout: 120_000,
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return {
      skipped: code === 'ENOENT' ? `${python} is not installed` : `${python} failed: ${r.error.message}`,
    };
  }
  if (r.status !== 0)
    return { skipped: `${python} exited with ${r.status}: ${r.stderr.trim().split('\n').at(-1)}` };
  let out: { skipped?: string; median_s?: number; numpy?: string };
  try {
    out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as typeof out;
  } catch {
    return { skipped: `unexpected output from ${python}: ${r.stdout.slice(0, 200)}` };
  }
  if (out.skipped) return { skipped: out.skipped };
  if (typeof out.median_s !== 'number' || !(out.median_s > 0)) return { skipped: 'no timing from numpy' };
  return { gflops: (2 * n ** 3) / (out.median_s * 1e9), numpy: out.numpy ?? 'unknown' };
}
