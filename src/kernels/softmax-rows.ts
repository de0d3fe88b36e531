/**
 * Row softmax + argmax (shaders/softmax_rows.wgsl) for classifier outputs: probs [rows, classes]
 * and pred [rows] (the first index of each row's maximum, as f32). One thread per row, no
 * barriers; one dispatch. Forward only (training uses recordSoftmaxCrossEntropy).
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const PARAMS = defineParams({ shaders: ['softmax_rows'], struct: 'Params' }, { rows: 'u32', classes: 'u32', row_stride: 'u32', _p: 'u32' });

export function recordSoftmaxArgmax(rt: GpuRuntime, list: CommandList, a: { logits: Tensor; probs: Tensor; pred: Tensor; rows: number; classes: number }): void {
  const { rows, classes } = a;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(classes) || classes < 1) throw new Error(`softmax_argmax: rows=${rows}, classes=${classes} must be positive integers`);
  if (a.logits.size < rows * classes) throw new Error(`softmax_argmax: logits ${a.logits.name} has ${a.logits.size} < ${rows}×${classes} elements`);
  if (a.probs.size < rows * classes) throw new Error(`softmax_argmax: probs ${a.probs.name} has ${a.probs.size} < ${rows}×${classes} elements`);
  if (a.pred.size < rows) throw new Error(`softmax_argmax: pred ${a.pred.name} has ${a.pred.size} < ${rows} elements`);
  if (a.probs.buffer === a.logits.buffer || a.pred.buffer === a.logits.buffer || a.pred.buffer === a.probs.buffer) {
    throw new Error('softmax_argmax: logits, probs and pred must live in three different buffers');
  }
  const g = grid1d(rows, 64);
  const u = rt.uniform(PARAMS.pack({ rows, classes, row_stride: g.x }), 'softmax_argmax.params');
  list.push(rt.dispatch(`softmax_argmax(${a.logits.name})`, rt.pipeline(shader('softmax_rows'), 'softmax_argmax'), [u, a.logits, a.probs, a.pred], [g.x, g.y]));
}

/** Float64 reference: probabilities and first-argmax per row. */
export function softmaxArgmaxCpu(logits: ArrayLike<number>, rows: number, classes: number): { probs: Float64Array; pred: Int32Array } {
  const probs = new Float64Array(rows * classes);
  const pred = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let mx = logits[base]!;
    let am = 0;
    for (let c = 1; c < classes; c++) {
      if (logits[base + c]! > mx) {
        mx = logits[base + c]!;
        am = c;
      }
    }
    let s = 0;
    for (let c = 0; c < classes; c++) s += probs[base + c] = Math.exp(logits[base + c]! - mx);
    for (let c = 0; c < classes; c++) probs[base + c]! /= s;
    pred[r] = am;
  }
  return { probs, pred };
}
