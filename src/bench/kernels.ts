/** Non-matmul kernels at the toy models' shapes (batch × seq up to 64×64, dims 64–256). */
import { ParamPack } from '../engine/param-pack';
import { CommandList, type GpuRuntime } from '../engine/runtime';
import { StepParams } from '../engine/step-params';
import { recordAttentionBackward, recordAttentionForward } from '../kernels/attention';
import { recordGeluForward } from '../kernels/elementwise';
import { recordLayerNormBackward, recordLayerNormForward } from '../kernels/layernorm';
import { recordMseLoss, recordSoftmaxCrossEntropy } from '../kernels/loss';
import { recordReduce } from '../kernels/reduce';
import { AdamW } from '../kernels/adamw';
import type { BenchRow } from './types';

type TimeList = (rt: GpuRuntime, list: CommandList, reps: number) => Promise<number>;

export async function benchKernels(rt: GpuRuntime, opts: { quick: boolean; timeList: TimeList }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const reps = opts.quick ? 2 : 10;
  const time = async (kernel: string, shape: string, record: (l: CommandList) => void, extra: Record<string, unknown> = {}) => {
    const list = new CommandList(kernel);
    record(list);
    rows.push({ kernel, shape, ms: await opts.timeList(rt, list, reps), ...extra });
  };
  const t = (shape: number[], name: string) => rt.tensor(shape, name, fill(shape.reduce((a, b) => a * b, 1)));

  for (const [rowsN, dim] of [
    [2048, 128],
    [4096, 256],
  ] as const) {
    const x = t([rowsN, dim], 'x');
    const g = t([dim], 'g');
    const b = t([dim], 'b');
    const y = t([rowsN, dim], 'y');
    const mean = t([rowsN], 'mean');
    const rstd = t([rowsN], 'rstd');
    const dx = t([rowsN, dim], 'dx');
    const dg = t([dim], 'dg');
    const db = t([dim], 'db');
    await time('layernorm.fwd', `${rowsN}×${dim}`, (l) => recordLayerNormForward(rt, l, { x, gamma: g, beta: b, y, mean, rstd, rows: rowsN, dim }));
    await time('layernorm.bwd', `${rowsN}×${dim}`, (l) => recordLayerNormBackward(rt, l, { x, gamma: g, mean, rstd, dy: y, dx, dgamma: dg, dbeta: db, rows: rowsN, dim }));
    const h = t([rowsN, dim * 4], 'h');
    const hOut = t([rowsN, dim * 4], 'h.out'); // distinct buffer: read + read_write of one buffer is invalid
    await time('gelu.fwd', `${rowsN}×${dim * 4}`, (l) => recordGeluForward(rt, l, h, hOut));
  }

  for (const [batch, seq, heads, dim] of [
    [32, 64, 1, 128],
    [64, 64, 4, 128],
    [16, 16, 4, 128],
  ] as const) {
    const n = batch * seq * dim;
    const q = t([n], 'q');
    const k = t([n], 'k');
    const v = t([n], 'v');
    const out = t([n], 'o');
    const probs = t([batch * heads * seq * seq], 'p');
    const dq = t([n], 'dq');
    const dk = t([n], 'dk');
    const dv = t([n], 'dv');
    const shape = { batch, seq, heads, headDim: dim / heads };
    const label = `b${batch} s${seq} h${heads} d${dim}`;
    await time('attention.fwd', label, (l) => recordAttentionForward(rt, l, { ...shape, q, k, v, out, probs }));
    await time('attention.bwd', label, (l) => recordAttentionBackward(rt, l, { ...shape, q, k, v, probs, dout: out, dq, dk, dv }));
  }

  {
    const n = 2048 * 128;
    const pred = t([n], 'pred');
    const target = t([n], 'target');
    const grad = t([n], 'grad');
    const loss = t([1], 'loss');
    await time('mse.fwd+bwd', `${n}`, (l) => recordMseLoss(rt, l, { pred, target, grad, loss, n }));
    const logits = t([4096, 10], 'logits');
    const labels = rt.tensor([4096], 'labels', Float32Array.from({ length: 4096 }, (_, i) => i % 10));
    const glog = t([4096, 10], 'glogits');
    await time('softmax_ce.fwd+bwd', '4096×10', (l) => recordSoftmaxCrossEntropy(rt, l, { logits, labels, grad: glog, loss, rows: 4096, classes: 10 }));
    await time('reduce.sumsq', `${1 << 20}`, (l) => recordReduce(rt, l, { x: t([1 << 20], 'r'), out: loss, op: 'sumsq' }));
  }

  for (const n of [100_000, 1_000_000]) {
    const pack = new ParamPack(rt, `bench${n}`, true);
    pack.add('w', [n], fill(n));
    pack.finalize();
    rt.write(pack.flatGrads!, fill(pack.length));
    const opt = new AdamW(rt, [pack], { weightDecay: 0.01, clipNorm: 1 });
    const sp = new StepParams(rt);
    sp.set({ step: 0, slot: 0, lr: 1e-3 });
    await time('adamw (norm+clip+update)', `${n} params`, (l) => opt.record(l, sp));
    opt.destroy();
    pack.destroy();
  }
  return rows;
}

function fill(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return out;
}
