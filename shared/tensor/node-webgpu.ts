/**
 * WebGPU in Node through Dawn (the optional `webgpu` npm package). Node-only: browsers have `navigator.gpu`.
 *
 * Finding an adapter (design notes §6): Dawn's Vulkan backend needs a Vulkan 1.1+ software or hardware driver;
 * Debian 12's lavapipe (mesa 22.3) is too old, but Chromium ships SwiftShader's Vulkan driver, used through
 * `VK_ICD_FILENAMES` when `libvulkan1` is installed. Dawn's OpenGL backend works on mesa's llvmpipe with
 * `EGL_PLATFORM=surfaceless`, but only as a `compatibility` feature-level adapter, which tfjs never asks for:
 * the `navigator.gpu` installed here asks for it. `FEDPEFT_WEBGPU_NODE_BACKEND=opengl|vulkan` restricts the
 * search to one Dawn backend.
 *
 * tfjs-backend-webgpu reads `navigator.gpu` and the `GPU*` constants when it loads, so this must run before
 * that module is imported.
 */
import { existsSync } from 'node:fs';

const CHROMIUM_SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export type GpuSetup = { ok: true; adapter: string } | { ok: false; reason: string };

interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>;
}
interface DawnAdapter {
  info?: { vendor?: string; architecture?: string; description?: string };
  limits: Record<string, number>;
  requestDevice(descriptor?: { requiredLimits?: Record<string, number> }): Promise<unknown>;
}

/** A `navigator.gpu` whose adapters are compatibility-level ones with their storage-buffer limits raised. */
function compatibilityGpu(gpu: DawnGpu): DawnGpu {
  return {
    async requestAdapter(options = {}) {
      const adapter = await gpu.requestAdapter({ ...options, featureLevel: 'compatibility' });
      if (!adapter) return null;
      const requestDevice = adapter.requestDevice.bind(adapter);
      return new Proxy(adapter, {
        get(target, key) {
          if (key !== 'requestDevice') return Reflect.get(target, key) as unknown;
          // Compatibility devices default to 4 storage buffers per stage; tfjs's fused kernels bind more.
          return (descriptor: { requiredLimits?: Record<string, number> } = {}) =>
            requestDevice({
              ...descriptor,
              requiredLimits: {
                ...descriptor.requiredLimits,
                maxStorageBuffersPerShaderStage: target.limits.maxStorageBuffersPerShaderStage as number,
              },
            });
        },
      });
    },
  };
}

export async function installNodeWebGpu(): Promise<GpuSetup> {
  let webgpu: { create(flags: string[]): DawnGpu; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch (err) {
    return {
      ok: false,
      reason: `the optional 'webgpu' package is not installed (${(err as Error).message})`,
    };
  }
  const tried: string[] = [];
  const attempts: { label: string; make: () => DawnGpu }[] = [
    {
      label: 'Dawn OpenGL backend (compatibility adapter, EGL surfaceless)',
      make: () => {
        process.env.EGL_PLATFORM ??= 'surfaceless';
        return compatibilityGpu(webgpu.create(['backend=opengl']));
      },
    },
    {
      label: 'Dawn Vulkan backend',
      make: () => {
        if (!process.env.VK_ICD_FILENAMES && existsSync(CHROMIUM_SWIFTSHADER_ICD))
          process.env.VK_ICD_FILENAMES = CHROMIUM_SWIFTSHADER_ICD;
        return webgpu.create(['backend=vulkan']);
      },
    },
  ];
  const only = process.env.FEDPEFT_WEBGPU_NODE_BACKEND?.toLowerCase();
  for (const { label, make } of attempts.filter((a) => !only || a.label.toLowerCase().includes(only))) {
    let gpu: DawnGpu;
    let adapter: DawnAdapter | null = null;
    try {
      gpu = make();
      adapter = await gpu.requestAdapter();
    } catch (err) {
      tried.push(`${label}: ${(err as Error).message}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${label}: no adapter`);
      continue;
    }
    // tfjs-backend-webgpu reads navigator.gpu and the GPU* constants when it loads and when it initialises.
    Object.assign(globalThis, webgpu.globals);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    const info = adapter.info ?? {};
    return {
      ok: true,
      adapter: `${label}: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ')}`,
    };
  }
  return {
    ok: false,
    reason:
      `no WebGPU adapter in Node: ${tried.join('; ') || `FEDPEFT_WEBGPU_NODE_BACKEND=${only} names no Dawn backend tried here (opengl, vulkan)`}. Needs mesa's EGL/GL (libegl1, libgl1-mesa-dri) for the ` +
      `OpenGL backend, or libvulkan1 plus a Vulkan 1.1+ driver (e.g. Chromium's SwiftShader) for Vulkan`,
  };
}
