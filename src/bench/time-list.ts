/**
 * The bench's one timing primitive, in its own module so the Node bench (bench/*.ts) and the page's benchmark can
 * use it alike.
 */
import { CommandList, type GpuRuntime } from '../engine/runtime';

/** The upper median (the middle element after sorting; for even lengths the larger of the two): the bench's one definition. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** Median wall time of `reps` back-to-back copies of `list` in one submit, per copy. */
export async function timeList(rt: GpuRuntime, list: CommandList, reps: number, trials = 3): Promise<number> {
  const batch = new CommandList(`${list.label}×${reps}`);
  for (let i = 0; i < reps; i++) batch.append(list);
  rt.submit([list]);
  await rt.idle(); // warm-up: pipelines compiled, caches primed
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    rt.submit([batch]);
    await rt.idle();
    times.push((performance.now() - t0) / reps);
  }
  return median(times);
}
