/** One Dawn/SwiftShader runtime per test file, plus comparison helpers. */
import { acquireNodeGpu } from '../../src/engine/node-gpu';
import { GpuRuntime } from '../../src/engine/runtime';

let rt: GpuRuntime | null = null;
const uncaptured: string[] = [];

export async function testRuntime(): Promise<GpuRuntime> {
  if (rt) return rt;
  const ctx = await acquireNodeGpu();
  ctx.device.addEventListener('uncapturederror', (e) => {
    // Validation errors are otherwise silent; test/helpers/setup.ts fails the test that caused them.
    uncaptured.push((e as GPUUncapturedErrorEvent).error.message);
  });
  rt = new GpuRuntime(ctx);
  return rt;
}

/** Waits for the GPU, then returns and clears the uncaptured WebGPU errors seen so far. */
export async function takeUncapturedErrors(): Promise<string[]> {
  if (rt) await rt.idle();
  return uncaptured.splice(0);
}

/** Seeded uniform values in [lo, hi) (mulberry32), for reproducible test inputs. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** max |a-b| / max(1e-6·scale, max|b|) — relative to the reference's magnitude. */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}
