/**
 * Node-only: Dawn through the `webgpu` npm package. Points Vulkan at SwiftShader when no ICD
 * is configured, which is what CI and GPU-less machines need. Never imported by browser code.
 */
import { existsSync } from 'node:fs';
import { acquireGpu, type AcquireOptions, type GpuContext } from './gpu';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let dawn: { gpu: GPU } | null = null;

export async function nodeGpu(): Promise<GPU> {
  if (dawn) return dawn.gpu;
  if (!process.env.VK_ICD_FILENAMES && !process.env.SAP_USE_SYSTEM_VULKAN && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const mod = (await import('webgpu')) as unknown as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  // GPUBufferUsage, GPUMapMode, … are globals in browsers; Dawn hands them to us separately.
  Object.assign(globalThis, mod.globals);
  dawn = { gpu: mod.create([]) };
  return dawn.gpu;
}

export async function acquireNodeGpu(options: Omit<AcquireOptions, 'gpu'> = {}): Promise<GpuContext> {
  return acquireGpu({ ...options, gpu: await nodeGpu() });
}
