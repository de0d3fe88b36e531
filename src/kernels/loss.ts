/**
 * Losses with their gradients, reduced deterministically (fixed-order multi-stage sums, no atomics).
 *
 * MSE: one strided pass writes per-thread (Σ m·d², Σ m) pairs — and, unmasked, the gradient —
 * then reduce.wgsl's pair folds write the loss. Masked: the mean is over the mask count, known
 * only on the GPU, so one more pass writes the gradient. Unmasked: 2 dispatches up to 65536
 * elements, 3 beyond; masked one more.
 *
 * Cross-entropy: one pass per row writes (loss_r, correct_r) pairs and the gradient; the pair
 * folds write loss and accuracy.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { MAX_GRID_DIM, grid1d } from './grid';
import { recordPairFinal, stridedThreads, threadGrid } from './reduce';
import { shader } from './shader-sources';

const HAS_MASK = 1;
const WRITE_GRAD = 2;

const PARAMS = defineParams(
  { shaders: ['loss'], struct: 'LossParams' },
  { n: 'u32', chunk: opt('u32'), classes: opt('u32'), flags: 'u32', grad_scale: 'f32', row_stride: opt('u32'), _p0: 'u32', _p1: 'u32' },
);

/**
 * Scratch tensors, one buffer each, allocated at record time. (Separate buffers, not views of
 * one: a buffer bound read-only and read-write in one dispatch is a usage conflict even when the
 * ranges do not overlap.)
 */
function scratchTensors(rt: GpuRuntime, sizes: number[], name: string): Tensor[] {
  return sizes.map((s, i) => rt.tensor([Math.max(1, s)], `${name}[${i}]`));
}

function scalarView(t: Tensor, what: string): Tensor {
  if (t.size < 1) throw new Error(`${what}: ${t.name} is empty`);
  return t.size === 1 ? t : new Tensor(t.buffer, t.offset, [1], t.name);
}

/**
 * Mean squared error over n elements, optionally masked (0/1 or weights; the mean is then over
 * Σmask, and a zero mask count gives loss 0 and gradient 0). Writes the loss to `loss` ([1]) and,
 * if `grad` is given, overwrites grad = gradScale · 2·mask·(pred − target)/count.
 */
export function recordMseLoss(
  rt: GpuRuntime,
  list: CommandList,
  a: { pred: Tensor; target: Tensor; grad?: Tensor; loss: Tensor; mask?: Tensor; n: number; gradScale?: number },
): void {
  const { n } = a;
  const gs = a.gradScale ?? 1;
  for (const [t, what] of [
    [a.pred, 'pred'],
    [a.target, 'target'],
    [a.grad, 'grad'],
    [a.mask, 'mask'],
  ] as const) {
    if (t && t.size < n) throw new Error(`mse: ${what} ${t.name} has ${t.size} < n=${n} elements`);
  }
  if (n < 1) throw new Error(`mse: n=${n} must be ≥ 1`);
  const loss = scalarView(a.loss, 'mse loss');
  const T = stridedThreads(n);
  // Scratch: per-thread pairs, the mask count, a dummy (the writable binding when grad is absent).
  const [pairs, count, dummy] = scratchTensors(rt, [2 * T, 1, 1], `mse.scratch(${a.pred.name})`) as [Tensor, Tensor, Tensor];
  const masked = !!a.mask;
  const gradInPartial = !!a.grad && !masked;
  const pipe = (entry: string) => rt.pipeline(shader('loss'), entry);
  const g1 = threadGrid(T);
  const u1 = rt.uniform(
    PARAMS.pack({ n, chunk: T, flags: (masked ? HAS_MASK : 0) | (gradInPartial ? WRITE_GRAD : 0), grad_scale: (2 * gs) / n, row_stride: g1.x }),
    'mse.partial.params',
  );
  const gradBinding = a.grad && gradInPartial ? a.grad : dummy;
  const maskBinding = a.mask ?? a.pred;
  list.push(rt.dispatch(`mse.partial(${a.pred.name})`, pipe('mse_partial'), [u1, a.pred, a.target, pairs, gradBinding, maskBinding], [g1.x, g1.y]));
  const label = `mse(${a.pred.name})`;
  if (masked) {
    recordPairFinal(rt, list, label, pairs, T, loss, count, { scaleA: 1, scaleB: 1, divideByB: true });
    if (a.grad) {
      const g = grid1d(n);
      const u2 = rt.uniform(PARAMS.pack({ n, flags: HAS_MASK, grad_scale: 2 * gs, row_stride: g.x }), 'mse.grad.params');
      list.push(rt.dispatch(`mse.grad(${a.pred.name})`, pipe('mse_grad'), [u2, a.pred, a.target, count, a.grad, a.mask!], [g.x, g.y]));
    }
  } else {
    recordPairFinal(rt, list, label, pairs, T, loss, dummy, { scaleA: 1 / n, scaleB: 0, divideByB: false });
  }
}

export type CrossEntropyVariant = 'thread' | 'workgroup';

/** On real GPUs, classes at or above this get a workgroup per row. */
const CE_WG_MIN_CLASSES = 128;

/**
 * Softmax cross-entropy over logits [rows, classes] with f32 class labels [rows]. loss = mean over
 * rows of (logsumexp − logit[label]); grad = gradScale·(softmax − onehot)/rows (overwrite);
 * accuracy = fraction of rows whose first argmax equals the label. Labels outside [0, classes)
 * are clamped into range. Variant: a thread per row (SwiftShader, few classes) or a workgroup per
 * row (real GPUs, ≥ 128 classes); both give the same results. 2 dispatches up to 256 rows, then
 * one more per factor of 64.
 */
export function recordSoftmaxCrossEntropy(
  rt: GpuRuntime,
  list: CommandList,
  a: {
    logits: Tensor;
    labels: Tensor;
    grad?: Tensor;
    loss: Tensor;
    accuracy?: Tensor;
    rows: number;
    classes: number;
    gradScale?: number;
    variant?: CrossEntropyVariant;
  },
): void {
  const { rows, classes } = a;
  if (rows < 1 || classes < 1) throw new Error(`cross-entropy: rows=${rows}, classes=${classes} must be ≥ 1`);
  if (a.logits.size < rows * classes) throw new Error(`cross-entropy: logits ${a.logits.name} has ${a.logits.size} < ${rows}×${classes}`);
  if (a.grad && a.grad.size < rows * classes) throw new Error(`cross-entropy: grad ${a.grad.name} has ${a.grad.size} < ${rows}×${classes}`);
  if (a.labels.size < rows) throw new Error(`cross-entropy: labels ${a.labels.name} has ${a.labels.size} < ${rows}`);
  const loss = scalarView(a.loss, 'cross-entropy loss');
  const [rowPairs, dummy] = scratchTensors(rt, [2 * rows, 1], `ce.scratch(${a.logits.name})`) as [Tensor, Tensor];
  const flags = a.grad ? WRITE_GRAD : 0;
  const gradScale = (a.gradScale ?? 1) / rows;
  const variant = a.variant ?? (!rt.isSwiftShader && classes >= CE_WG_MIN_CLASSES ? 'workgroup' : 'thread');
  if (variant === 'workgroup') {
    const gx = Math.min(rows, MAX_GRID_DIM);
    const gy = Math.ceil(rows / gx);
    const u = rt.uniform(PARAMS.pack({ n: rows, classes, flags, grad_scale: gradScale, row_stride: gx }), 'ce.rows.params');
    list.push(rt.dispatch(`ce.rows(${a.logits.name})`, rt.pipeline(shader('loss'), 'ce_rows_wg'), [u, a.logits, a.labels, rowPairs, a.grad ?? dummy], [gx, gy]));
  } else {
    const g = threadGrid(rows);
    const u = rt.uniform(PARAMS.pack({ n: rows, classes, flags, grad_scale: gradScale, row_stride: g.x }), 'ce.rows.params');
    list.push(rt.dispatch(`ce.rows(${a.logits.name})`, rt.pipeline(shader('loss'), 'ce_rows_thread'), [u, a.logits, a.labels, rowPairs, a.grad ?? dummy], [g.x, g.y]));
  }
  const acc = a.accuracy ? scalarView(a.accuracy, 'cross-entropy accuracy') : dummy;
  recordPairFinal(rt, list, `ce(${a.logits.name})`, rowPairs, rows, loss, acc, { scaleA: 1 / rows, scaleB: 1 / rows, divideByB: false });
}

// ---------- CPU references (float64) ----------

export interface LossResult {
  loss: number;
  grad: Float64Array;
  accuracy?: number;
}

export function mseLossCpu(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  opts: { mask?: ArrayLike<number>; n?: number; gradScale?: number } = {},
): LossResult {
  const n = opts.n ?? pred.length;
  const gs = opts.gradScale ?? 1;
  let sse = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const m = opts.mask ? opts.mask[i]! : 1;
    const d = pred[i]! - target[i]!;
    sse += m * d * d;
    count += m;
  }
  const grad = new Float64Array(n);
  if (count > 0) for (let i = 0; i < n; i++) grad[i] = (gs * 2 * (opts.mask ? opts.mask[i]! : 1) * (pred[i]! - target[i]!)) / count;
  return { loss: count > 0 ? sse / count : 0, grad };
}

export function softmaxCrossEntropyCpu(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  classes: number,
  gradScale = 1,
): Required<LossResult> {
  const grad = new Float64Array(rows * classes);
  let loss = 0;
  let correct = 0;
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
    for (let c = 0; c < classes; c++) s += Math.exp(logits[base + c]! - mx);
    const lbl = Math.min(classes - 1, Math.max(0, Math.trunc(labels[r]!)));
    loss += Math.log(s) + mx - logits[base + lbl]!;
    if (am === lbl) correct++;
    for (let c = 0; c < classes; c++) grad[base + c] = (gradScale * (Math.exp(logits[base + c]! - mx) / s - (c === lbl ? 1 : 0))) / rows;
  }
  return { loss: loss / rows, grad, accuracy: correct / rows };
}
