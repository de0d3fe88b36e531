/**
 * Per-op GPU times of a recorded CommandList, measured inside the list as it really runs.
 *
 * With the `timestamp-query` feature: the whole list is encoded as usual except that every
 * dispatch gets its own compute pass with begin/end timestamps, so each op runs in its context
 * (after the ops that produce its inputs, e.g. bucket counts before a bucket scatter), never
 * replayed alone. Without the feature: prefix timing, ms(ops 0..i) − ms(ops 0..i−1), which also
 * only ever runs valid prefixes of the list (noisier: a difference of two wall times).
 *
 * Replaying one op alone `reps` times (the old bench/profile-step.ts) is unsafe: an op whose
 * input another op resets each step (the counting sort's cursors) overruns its buffers and can
 * make a later kernel loop for minutes.
 */
import { CommandList, type GpuRuntime, type Op } from '../src/engine/runtime';
import { median } from '../src/bench/time-list';

export interface OpTime {
  index: number;
  kind: Op['kind'];
  label: string;
  /** Median GPU time in ms over the repetitions (timestamps), or the prefix difference. */
  ms: number;
}

export interface ListProfile {
  method: 'timestamp-query' | 'prefix';
  ops: OpTime[];
  /** Median wall time of the whole list (one submit, as a step runs). */
  wholeMs: number;
}


async function wallMs(rt: GpuRuntime, list: CommandList, reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    rt.submit([list]);
    await rt.idle();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function profileList(rt: GpuRuntime, list: CommandList, reps = 5): Promise<ListProfile> {
  rt.submit([list]); // warm-up: pipelines compiled
  await rt.idle();
  const wholeMs = await wallMs(rt, list, reps);
  if (rt.ctx.features.has('timestamp-query')) return { method: 'timestamp-query', ops: await timestamped(rt, list, reps), wholeMs };
  return { method: 'prefix', ops: await prefixes(rt, list, reps), wholeMs };
}

async function timestamped(rt: GpuRuntime, list: CommandList, reps: number): Promise<OpTime[]> {
  const device = rt.device;
  const dispatches = list.ops.map((op, i) => (op.kind === 'dispatch' ? i : -1)).filter((i) => i >= 0);
  const count = 2 * dispatches.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const staging = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const samples: number[][] = list.ops.map(() => []);
  try {
    for (let r = 0; r < reps; r++) {
      const enc = device.createCommandEncoder({ label: 'profile' });
      let q = 0;
      for (const op of list.ops) {
        if (op.kind === 'dispatch') {
          const pass = enc.beginComputePass({ label: op.label, timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
          q += 2;
          pass.setPipeline(op.pipeline);
          op.bindGroups.forEach((g, i) => pass.setBindGroup(i, g));
          pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
          pass.end();
        } else if (op.kind === 'clear') enc.clearBuffer(op.buffer, op.offset, op.size);
        else enc.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
      }
      enc.resolveQuerySet(querySet, 0, count, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, staging, 0, count * 8);
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const ts = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      dispatches.forEach((opIndex, d) => samples[opIndex]!.push(Number(ts[2 * d + 1]! - ts[2 * d]!) / 1e6));
    }
  } finally {
    querySet.destroy();
    resolve.destroy();
    staging.destroy();
  }
  return list.ops.map((op, index) => ({ index, kind: op.kind, label: op.label, ms: samples[index]!.length ? median(samples[index]!) : 0 }));
}

async function prefixes(rt: GpuRuntime, list: CommandList, reps: number): Promise<OpTime[]> {
  const out: OpTime[] = [];
  let previous = 0;
  const prefix = new CommandList(`${list.label}.prefix`);
  for (const [index, op] of list.ops.entries()) {
    prefix.push(op);
    const t = await wallMs(rt, prefix, reps);
    out.push({ index, kind: op.kind, label: op.label, ms: Math.max(0, t - previous) });
    previous = t;
  }
  return out;
}

/** Markdown table of a profile, largest first, with each op's share of the summed op time. */
export function profileMarkdown(title: string, p: ListProfile): string {
  const sum = p.ops.reduce((a, o) => a + o.ms, 0);
  const lines = [
    `**${title}** — per-op GPU time (${p.method}), whole step ${p.wholeMs.toFixed(1)} ms wall, sum of ops ${sum.toFixed(1)} ms`,
    '',
    '| op | ms | share |',
    '|---|---:|---:|',
    ...[...p.ops]
      .filter((o) => o.kind === 'dispatch' || o.ms > 0)
      .sort((a, b) => b.ms - a.ms)
      .map((o) => `| ${o.label} | ${o.ms.toFixed(2)} | ${((100 * o.ms) / Math.max(sum, 1e-9)).toFixed(1)} % |`),
    '',
  ];
  return lines.join('\n');
}
