/**
 * Batched matMul `[b, m, k] @ [b, k, n] -> [b, m, n]` for attention (`Q K^T` and `P V`, transposes explicit).
 *
 * Why a special path: tfjs-backend-wasm 4.22 runs `BatchMatMul` through XNNPACK only when the batch is 1 and
 * nothing is transposed; every other call goes to a scalar blocked loop at ~1.5-3 GFLOP/s, 10-20x below a 2-D
 * matMul of the same FLOPs. Splitting with `tf.unstack`/`split` copies every slice and costs more than it saves.
 *
 * How: a kernel registered for the wasm backend only. For each batch slice it registers three temporary tensor
 * ids that point *into* the wasm memory of the inputs and the output (no copies), calls the backend's own
 * `BatchMatMul` export with batch 1 (its XNNPACK path), and disposes the ids through the module's
 * `dispose_data`. That last step matters: XNNPACK operators are cached by the weight tensor's id and deleted by
 * the disposal callback of that id, so a view id that was never disposed would leak its operator, and a reused
 * id would hit an operator packed from another slice's weights. View ids come from the backend's own counter,
 * so they can never collide with a real tensor's id.
 *
 * Gradients (`customGrad`): `dA = dY @ B^T`, `dB = A^T @ dY`, with the transposes done explicitly (a cheap copy)
 * so the backward pass runs on the same fast kernel rather than on the slow transposed forms. On every other
 * backend this is plain `tf.matMul` with its built-in gradient.
 */
import { tf } from './tf.ts';

const KERNEL_NAME = 'FedpeftBatchMatMulSlices';

/** The parts of tfjs-backend-wasm's `BackendWasm` this kernel relies on (stable across 4.x, not exported). */
interface WasmModule {
  cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
  tfjs: {
    // Plain functions (emscripten cwrap results), not methods: safe to call detached.
    registerTensor: (id: number, size: number, memoryOffset: number) => void;
    disposeData: (id: number) => void;
  };
}

interface WasmBackendLike {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

type WasmBatchMatMulExport = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

// One wrapper per wasm module instance (tests may create more than one backend).
const exportsByModule = new WeakMap<WasmModule, WasmBatchMatMulExport>();

function wasmBatchMatMulExport(wasm: WasmModule): WasmBatchMatMulExport {
  let fn = exportsByModule.get(wasm);
  if (!fn) {
    // Same argument types as the stock kernel: shapes travel as int32 byte arrays.
    fn = wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]);
    exportsByModule.set(wasm, fn);
  }
  return fn;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

function memoryOffsetOf(backend: WasmBackendLike, t: tf.TensorInfo): number {
  const entry = backend.dataIdMap.get(t.dataId);
  if (!entry) throw new Error(`${KERNEL_NAME}: input tensor has no data on the wasm backend`);
  return entry.memoryOffset;
}

function slicedBatchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const a = args.inputs.a as tf.TensorInfo;
  const b = args.inputs.b as tf.TensorInfo;
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2] as number;
  const out = backend.makeOutput([batch, m, n], 'float32');
  const run = wasmBatchMatMulExport(backend.wasm);
  const { registerTensor, disposeData } = backend.wasm.tfjs;
  const aOffset = memoryOffsetOf(backend, a);
  const bOffset = memoryOffsetOf(backend, b);
  const outOffset = memoryOffsetOf(backend, out);
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  const live: number[] = [];
  try {
    for (let i = 0; i < batch; i++) {
      const aId = backend.dataIdNextNumber++;
      const bId = backend.dataIdNextNumber++;
      const outId = backend.dataIdNextNumber++;
      registerTensor(aId, m * k, aOffset + i * m * k * 4);
      live.push(aId);
      registerTensor(bId, k * n, bOffset + i * k * n * 4);
      live.push(bId);
      registerTensor(outId, m * n, outOffset + i * m * n * 4);
      live.push(outId);
      run(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
      while (live.length > 0) disposeData(live.pop() as number);
    }
  } catch (err) {
    while (live.length > 0) disposeData(live.pop() as number);
    backend.disposeData(out.dataId, true);
    throw err;
  }
  return out;
}

// Registered for 'wasm' only: tfjs looks kernels up per backend, so other backends never see it. The guard keeps
// a second evaluation of this module (e.g. a test runner reloading it) from registering twice.
if (!tf.getKernel(KERNEL_NAME, 'wasm')) {
  tf.registerKernel({
    kernelName: KERNEL_NAME,
    backendName: 'wasm',
    kernelFunc: slicedBatchMatMulKernel,
  });
}

function assertBatchedShapes(a: tf.Tensor, b: tf.Tensor, what: string): void {
  const ok =
    a.rank === 3 &&
    b.rank === 3 &&
    a.shape[0] === b.shape[0] &&
    a.shape[2] === b.shape[1] &&
    a.dtype === 'float32' &&
    b.dtype === 'float32';
  if (!ok) {
    throw new Error(
      `${what} needs float32 [b, m, k] @ [b, k, n] with the same b, got ${a.dtype} ${JSON.stringify(a.shape)} @ ` +
        `${b.dtype} ${JSON.stringify(b.shape)}`,
    );
  }
}

/** True when the fast sliced kernel applies: wasm backend and no empty dimension (XNNPACK rejects 0 channels). */
function useSlicedKernel(a: tf.Tensor, b: tf.Tensor): boolean {
  return tf.getBackend() === 'wasm' && a.size > 0 && b.size > 0;
}

/** Forward product without a gradient of its own: the fast kernel on wasm, `tf.matMul` elsewhere. */
function rawBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (!useSlicedKernel(a, b)) return tf.matMul(a, b);
  return tf.engine().runKernel<tf.Tensor3D>(KERNEL_NAME, { a, b }, {});
}

/**
 * The gradients of `Y = A @ B` for a given `dY`, built only from untransposed products:
 * `[dA, dB] = [dY @ B^T, A^T @ dY]`. Exported for the benchmark; training gets it through `batchMatMul`.
 */
export function batchMatMulBackward(
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  dy: tf.Tensor3D,
): [tf.Tensor3D, tf.Tensor3D] {
  return tf.tidy(() => [
    rawBatchMatMul(dy, tf.transpose(b, [0, 2, 1])),
    rawBatchMatMul(tf.transpose(a, [0, 2, 1]), dy),
  ]);
}

// customGrad's inputs are typed as a union of tensors and the save function; unpack them once here.
type CustomGradArgs = (tf.Tensor | tf.GradSaveFunc)[];

const fastBatchMatMul: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad(
  (...args: CustomGradArgs) => {
    const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
    save([a, b]);
    return {
      value: rawBatchMatMul(a, b),
      gradFunc: (dy, saved) => {
        const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
        return batchMatMulBackward(sa, sb, dy);
      },
    };
  },
);

/**
 * `a @ b` per batch entry: `a` is `[b, m, k]`, `b` is `[b, k, n]`, the result `[b, m, n]`. Differentiable in
 * both inputs. On wasm both the forward and the backward pass run at close to the 2-D matMul rate.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  assertBatchedShapes(a, b, 'batchMatMul');
  if (!useSlicedKernel(a, b)) return tf.matMul(a, b);
  return fastBatchMatMul(a, b) as tf.Tensor3D;
}
