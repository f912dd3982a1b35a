/**
 * What this device can do, probed once: a real WebGPU adapter (never a
 * software fallback such as SwiftShader, unless the caller forces WebGPU),
 * fp16 shaders, cross-origin isolation (WASM threads), cores and memory.
 */

export interface WebGpuInfo {
  available: boolean;
  /** A software/fallback adapter (SwiftShader): correct but far slower than WASM. */
  fallbackAdapter: boolean;
  shaderF16: boolean;
  description: string;
}

export interface Device {
  webgpu: WebGpuInfo;
  wasm: boolean;
  crossOriginIsolated: boolean;
  cores: number;
  /** navigator.deviceMemory in GB (Chromium only, rounded, capped at 8); null when unknown. */
  memoryGb: number | null;
}

interface GpuAdapterLike {
  features: ReadonlySet<string>;
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

async function probeWebGpu(): Promise<WebGpuInfo> {
  const none = (description: string): WebGpuInfo => ({
    available: false,
    fallbackAdapter: false,
    shaderF16: false,
    description,
  });
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return none("this browser has no WebGPU (navigator.gpu is missing)");
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (err) {
    return none(`WebGPU adapter request failed: ${String(err)}`);
  }
  if (!adapter) return none("WebGPU has no adapter on this device");
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  const fallback =
    Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || /swiftshader|llvmpipe|software/i.test(name);
  return {
    available: true,
    fallbackAdapter: fallback,
    shaderF16: adapter.features.has("shader-f16"),
    description: name || "unnamed adapter",
  };
}

let probed: Promise<Device> | null = null;

/** The device's capabilities (probed once per page). */
export function probeDevice(): Promise<Device> {
  probed ??= (async () => ({
    webgpu: await probeWebGpu(),
    wasm: typeof WebAssembly === "object",
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
    cores: navigator.hardwareConcurrency || 1,
    memoryGb: (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? null,
  }))();
  return probed;
}
