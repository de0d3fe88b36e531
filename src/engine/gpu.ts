/**
 * Device acquisition, the same code in a page, a Web Worker and Node. Node passes its own
 * `GPU` object (from the `webgpu` package, see node-gpu.ts); browsers use navigator.gpu.
 */
import { GpuUnavailableError, WEBGPU_ADVICE } from './errors';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  isSwiftShader: boolean;
}

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: AdapterSummary;
  features: Set<string>;
  limits: GPUSupportedLimits;
  /** Resolves when the device is lost (destroyed or reset); carries the reason. */
  lost: Promise<GPUDeviceLostInfo>;
}

export interface AcquireOptions {
  /** A GPU object; defaults to navigator.gpu. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Features to enable when the adapter has them (never required). */
  optionalFeatures?: GPUFeatureName[];
}

/** Limits we ask for: the adapter's own maxima, not WebGPU's low defaults. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBuffersPerShaderStage',
  'maxBindGroups',
] as const;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const device = info?.device ?? '';
  const all = `${vendor} ${architecture} ${description} ${device}`.toLowerCase();
  return { vendor, architecture, description, device, isSwiftShader: all.includes('swiftshader') };
}

export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined);
  if (!gpu) {
    throw new GpuUnavailableError('no-webgpu', 'WebGPU is not available in this browser or context.', WEBGPU_ADVICE);
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new GpuUnavailableError('no-adapter', `requestAdapter() failed: ${(e as Error).message}.`, WEBGPU_ADVICE);
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      'no-adapter',
      'WebGPU is present but no GPU adapter was found (the GPU may be blocklisted or its driver missing).',
      'Check chrome://gpu, update the graphics driver, or enable --enable-unsafe-webgpu.',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = (options.optionalFeatures ?? []).filter((f) => adapter!.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new GpuUnavailableError('device-failed', `requestDevice() failed: ${(e as Error).message}.`, 'Close other GPU-heavy tabs and reload.');
  }
  const info = summarizeAdapter(adapter);
  return {
    adapter,
    device,
    info,
    features: new Set([...device.features].map(String)),
    limits: device.limits,
    lost: device.lost,
  };
}
