/**
 * The Fourier toy's own kernels (shaders/fourier.wgsl), beside float64 CPU references. The
 * model (src/models/fourier.ts) runs on a compact token layout: each of the B signals of a batch
 * is `tc` rows — its `tc − 1` observed tokens (row r at time pos[r]) and one last "rest" row that
 * stands for every unobserved token (their inputs are 0, so they are identical: same query, same
 * attention, same code). `lift` is the frozen [2, seq, cols] lift, E then F.
 *
 *   lift / liftBackward           X = (x − ŷ)·E_t + F_t on observed rows, 0 on rest rows
 *   readout / readoutBackward     ŷ_r = ⟨Y_r, E_t⟩ on observed rows (0 on rest rows)
 *   readoutFull / ...Backward     every sample [B, seq]: an observed one is its observation (via
 *                                 slot), the others ⟨Y_rest, E_t⟩
 *   softmaxMult                   row softmax in place whose last key weighs `mult` (the pooled
 *                                 unobserved tokens)
 *   rowNorms, normalize           atom time-profile norms n_m = ‖P_m‖, D̃ = D/n, Wt = η·D̃
 *   tiedBackward                  dD̃ += η·G, dlog η += η·Σ G ⊙ D̃ (one workgroup)
 *   normalizeBackward             dD = dD̃/n − (⟨dD̃_m, D_m⟩/n³)·(P·E)_m
 * Each record function checks sizes and throws an actionable error.
 */
import type { CommandList, GpuRuntime } from '../engine/runtime';
import type { Tensor } from '../engine/tensor';
import { defineParams, opt } from '../engine/uniform-params';
import { grid1d } from './grid';
import { shader } from './shader-sources';

const SHADER = shader('fourier');
const WG = 64;
const HAS_YHAT = 1;
const HAS_ETA = 2;
const ACCUMULATE = 4;
const ATOMS = 8;
const ETA = 16;

type Arr = ArrayLike<number>;

const PARAMS = defineParams(
  { shaders: ['fourier'], struct: 'Params' },
  { n: 'u32', cols: opt('u32'), seq: opt('u32'), tc: opt('u32'), row_stride: opt('u32'), flags: opt('u32'), atoms: opt('u32'), mult: opt('f32') },
);

function need(what: string, name: string, t: Tensor, n: number): void {
  if (t.size < n) throw new Error(`${what}: ${name} (${t.name}) has ${t.size} elements, needs ${n}`);
}

function positive(what: string, o: Record<string, number>): void {
  for (const [k, v] of Object.entries(o)) if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${k}=${v} must be a positive integer`);
}

/** Compact layout: `rows` = B·tc, with tc ≥ 2 (at least one observed token and the rest row). */
export interface CompactShape {
  rows: number;
  tc: number;
  cols: number;
  seq: number;
}

function checkCompact(what: string, s: CompactShape): void {
  positive(what, { rows: s.rows, tc: s.tc, cols: s.cols, seq: s.seq });
  if (s.tc < 2) throw new Error(`${what}: tc=${s.tc} must be ≥ 2 (observed tokens plus the rest row)`);
  if (s.rows % s.tc !== 0) throw new Error(`${what}: rows=${s.rows} is not a multiple of tc=${s.tc}`);
  if (s.tc - 1 > s.seq) throw new Error(`${what}: ${s.tc - 1} observed tokens exceed seq=${s.seq}`);
}

function run(rt: GpuRuntime, list: CommandList, label: string, entry: string, n: number, p: Parameters<typeof PARAMS.pack>[0], res: Tensor[]): void {
  const g = grid1d(n, WG);
  const u = rt.uniform(PARAMS.pack({ ...p, row_stride: g.x }), `fourier.${entry}.params`);
  list.push(rt.dispatch(label, rt.pipeline(SHADER, entry), [u, ...res], [g.x, g.y]));
}

export function recordLift(rt: GpuRuntime, list: CommandList, a: CompactShape & { pos: Tensor; xobs: Tensor; yhat: Tensor | null; lift: Tensor; x: Tensor; label?: string }): void {
  const what = `fourier lift(${a.label ?? a.x.name})`;
  checkCompact(what, a);
  for (const [k, t] of [['pos', a.pos], ['xobs', a.xobs], ['yhat', a.yhat ?? a.xobs]] as const) need(what, k, t, a.rows);
  need(what, 'lift', a.lift, 2 * a.seq * a.cols);
  need(what, 'x', a.x, a.rows * a.cols);
  run(rt, list, what, 'lift', a.rows * a.cols, { n: a.rows, cols: a.cols, seq: a.seq, tc: a.tc, flags: a.yhat ? HAS_YHAT : 0 }, [a.pos, a.xobs, a.yhat ?? a.xobs, a.lift, a.x]);
}

export function recordLiftBackward(rt: GpuRuntime, list: CommandList, a: CompactShape & { pos: Tensor; dx: Tensor; lift: Tensor; dyhat: Tensor; label?: string }): void {
  const what = `fourier lift backward(${a.label ?? a.dx.name})`;
  checkCompact(what, a);
  need(what, 'pos', a.pos, a.rows);
  need(what, 'dx', a.dx, a.rows * a.cols);
  need(what, 'lift', a.lift, a.seq * a.cols);
  need(what, 'dyhat', a.dyhat, a.rows);
  run(rt, list, what, 'lift_backward', a.rows, { n: a.rows, cols: a.cols, seq: a.seq, tc: a.tc }, [a.pos, a.dx, a.lift, a.dyhat]);
}

export function recordReadout(rt: GpuRuntime, list: CommandList, a: CompactShape & { pos: Tensor; y: Tensor; lift: Tensor; out: Tensor; label?: string }): void {
  const what = `fourier readout(${a.label ?? a.out.name})`;
  checkCompact(what, a);
  need(what, 'pos', a.pos, a.rows);
  need(what, 'y', a.y, a.rows * a.cols);
  need(what, 'lift', a.lift, a.seq * a.cols);
  need(what, 'out', a.out, a.rows);
  run(rt, list, what, 'readout', a.rows, { n: a.rows, cols: a.cols, seq: a.seq, tc: a.tc }, [a.pos, a.y, a.lift, a.out]);
}

export function recordReadoutBackward(rt: GpuRuntime, list: CommandList, a: CompactShape & { pos: Tensor; dout: Tensor; lift: Tensor; dy: Tensor; label?: string }): void {
  const what = `fourier readout backward(${a.label ?? a.dy.name})`;
  checkCompact(what, a);
  need(what, 'pos', a.pos, a.rows);
  need(what, 'dout', a.dout, a.rows);
  need(what, 'lift', a.lift, a.seq * a.cols);
  need(what, 'dy', a.dy, a.rows * a.cols);
  run(rt, list, what, 'readout_backward', a.rows * a.cols, { n: a.rows, cols: a.cols, seq: a.seq, tc: a.tc }, [a.pos, a.dout, a.lift, a.dy]);
}

/** out [B·seq]; slot [B·seq] = the observed row index within its signal (0 … tc − 2) or −1; xobs [rows] the observed values. */
export function recordReadoutFull(rt: GpuRuntime, list: CommandList, a: CompactShape & { slot: Tensor; xobs: Tensor; y: Tensor; lift: Tensor; out: Tensor; label?: string }): void {
  const what = `fourier readout full(${a.label ?? a.out.name})`;
  checkCompact(what, a);
  const n = (a.rows / a.tc) * a.seq;
  need(what, 'slot', a.slot, n);
  need(what, 'xobs', a.xobs, a.rows);
  need(what, 'y', a.y, a.rows * a.cols);
  need(what, 'lift', a.lift, a.seq * a.cols);
  need(what, 'out', a.out, n);
  run(rt, list, what, 'readout_full', n, { n, cols: a.cols, seq: a.seq, tc: a.tc }, [a.slot, a.xobs, a.y, a.lift, a.out]);
}

export function recordReadoutFullBackward(rt: GpuRuntime, list: CommandList, a: CompactShape & { slot: Tensor; dout: Tensor; lift: Tensor; dy: Tensor; label?: string }): void {
  const what = `fourier readout full backward(${a.label ?? a.dy.name})`;
  checkCompact(what, a);
  const n = (a.rows / a.tc) * a.seq;
  need(what, 'slot', a.slot, n);
  need(what, 'dout', a.dout, n);
  need(what, 'lift', a.lift, a.seq * a.cols);
  need(what, 'dy', a.dy, a.rows * a.cols);
  run(rt, list, what, 'readout_full_backward', a.rows * a.cols, { n: a.rows, cols: a.cols, seq: a.seq, tc: a.tc }, [a.slot, a.dout, a.lift, a.dy]);
}

/** In place on scores [rows, tc]. */
export function recordSoftmaxMult(rt: GpuRuntime, list: CommandList, a: { scores: Tensor; rows: number; tc: number; mult: number; label?: string }): void {
  const what = `fourier softmax(${a.label ?? a.scores.name})`;
  positive(what, { rows: a.rows, tc: a.tc });
  if (!(a.mult > 0) || !Number.isFinite(a.mult)) throw new Error(`${what}: mult=${a.mult} must be a positive number`);
  need(what, 'scores', a.scores, a.rows * a.tc);
  run(rt, list, what, 'softmax_mult', a.rows, { n: a.rows, tc: a.tc, mult: a.mult }, [a.scores]);
}

export function recordRowNorms(rt: GpuRuntime, list: CommandList, a: { p: Tensor; norms: Tensor; atoms: number; seq: number }): void {
  const what = `fourier row norms(${a.p.name})`;
  positive(what, { atoms: a.atoms, seq: a.seq });
  need(what, 'p', a.p, a.atoms * a.seq);
  need(what, 'norms', a.norms, a.atoms);
  run(rt, list, what, 'row_norms', a.atoms, { n: a.atoms, seq: a.seq }, [a.p, a.norms]);
}

/** dn = D/n; with logEta and wt also wt = exp(logEta)·dn. */
export function recordNormalize(rt: GpuRuntime, list: CommandList, a: { d: Tensor; norms: Tensor; dn: Tensor; atoms: number; cols: number; logEta?: Tensor; wt?: Tensor }): void {
  const what = `fourier normalize(${a.d.name})`;
  positive(what, { atoms: a.atoms, cols: a.cols });
  if (!!a.logEta !== !!a.wt) throw new Error(`${what}: logEta and wt go together`);
  const n = a.atoms * a.cols;
  need(what, 'd', a.d, n);
  need(what, 'norms', a.norms, a.atoms);
  need(what, 'dn', a.dn, n);
  if (a.wt) need(what, 'wt', a.wt, n);
  if (a.dn.buffer === a.d.buffer) throw new Error(`${what}: dn must not share D's buffer`);
  // Without η, d stands in as the read-only log η and dn as the (unwritten) wt.
  const wt = a.wt ?? rt.sharedTensor('fourier.nowt', [1]);
  run(rt, list, what, 'normalize', n, { n: a.atoms, cols: a.cols, flags: a.logEta ? HAS_ETA : 0 }, [a.d, a.norms, a.logEta ?? a.d, a.dn, wt]);
}

/** ddn += η·g (when ddn is given); dlogEta += η·Σ g ⊙ dn (when given). One workgroup. */
export function recordTiedBackward(rt: GpuRuntime, list: CommandList, a: { g: Tensor; dn: Tensor; logEta: Tensor; ddn: Tensor | null; dlogEta: Tensor | null; n: number }): void {
  const what = `fourier tied backward(${a.g.name})`;
  positive(what, { n: a.n });
  need(what, 'g', a.g, a.n);
  need(what, 'dn', a.dn, a.n);
  if (a.ddn) need(what, 'ddn', a.ddn, a.n);
  if (!a.ddn && !a.dlogEta) throw new Error(`${what}: nothing to compute (neither ddn nor dlogEta)`);
  const flags = (a.ddn ? ATOMS : 0) | (a.dlogEta ? ETA : 0);
  const u = rt.uniform(PARAMS.pack({ n: a.n, flags }), 'fourier.tied_backward.params');
  const ddn = a.ddn ?? rt.sharedTensor('fourier.noddn', [1]);
  const dlog = a.dlogEta ?? rt.sharedTensor('fourier.nodlog', [1]);
  list.push(rt.dispatch(what, rt.pipeline(SHADER, 'tied_backward'), [u, a.g, a.dn, a.logEta, ddn, dlog], [1]));
}

export function recordNormalizeBackward(rt: GpuRuntime, list: CommandList, a: { ddn: Tensor; d: Tensor; norms: Tensor; pe: Tensor; dd: Tensor; atoms: number; cols: number; accumulate?: boolean }): void {
  const what = `fourier normalize backward(${a.dd.name})`;
  positive(what, { atoms: a.atoms, cols: a.cols });
  const n = a.atoms * a.cols;
  for (const [k, t] of [['ddn', a.ddn], ['d', a.d], ['pe', a.pe], ['dd', a.dd]] as const) need(what, k, t, n);
  need(what, 'norms', a.norms, a.atoms);
  run(rt, list, what, 'normalize_backward', a.atoms, { n: a.atoms, cols: a.cols, flags: a.accumulate ? ACCUMULATE : 0 }, [a.ddn, a.d, a.norms, a.pe, a.dd]);
}

// ---------- CPU references (float64) ----------

const isRest = (r: number, tc: number) => r % tc === tc - 1;

export function liftCpu(s: CompactShape & { pos: Arr; xobs: Arr; yhat: Arr | null; lift: Arr }): Float64Array {
  const out = new Float64Array(s.rows * s.cols);
  const tcOff = s.seq * s.cols;
  for (let r = 0; r < s.rows; r++) {
    if (isRest(r, s.tc)) continue;
    const t = s.pos[r]!;
    const res = s.xobs[r]! - (s.yhat ? s.yhat[r]! : 0);
    for (let c = 0; c < s.cols; c++) out[r * s.cols + c] = res * s.lift[t * s.cols + c]! + s.lift[tcOff + t * s.cols + c]!;
  }
  return out;
}

export function liftBackwardCpu(s: CompactShape & { pos: Arr; dx: Arr; lift: Arr }): Float64Array {
  const out = new Float64Array(s.rows);
  for (let r = 0; r < s.rows; r++) {
    if (isRest(r, s.tc)) continue;
    const t = s.pos[r]!;
    let acc = 0;
    for (let c = 0; c < s.cols; c++) acc += s.dx[r * s.cols + c]! * s.lift[t * s.cols + c]!;
    out[r] = -acc;
  }
  return out;
}

export function readoutCpu(s: CompactShape & { pos: Arr; y: Arr; lift: Arr }): Float64Array {
  const out = new Float64Array(s.rows);
  for (let r = 0; r < s.rows; r++) {
    if (isRest(r, s.tc)) continue;
    const t = s.pos[r]!;
    let acc = 0;
    for (let c = 0; c < s.cols; c++) acc += s.y[r * s.cols + c]! * s.lift[t * s.cols + c]!;
    out[r] = acc;
  }
  return out;
}

export function readoutBackwardCpu(s: CompactShape & { pos: Arr; dout: Arr; lift: Arr }): Float64Array {
  const out = new Float64Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) {
    if (isRest(r, s.tc)) continue;
    const t = s.pos[r]!;
    for (let c = 0; c < s.cols; c++) out[r * s.cols + c] = s.dout[r]! * s.lift[t * s.cols + c]!;
  }
  return out;
}

export function readoutFullCpu(s: CompactShape & { slot: Arr; xobs: Arr; y: Arr; lift: Arr }): Float64Array {
  const B = s.rows / s.tc;
  const out = new Float64Array(B * s.seq);
  for (let b = 0; b < B; b++) {
    const rest = b * s.tc + s.tc - 1;
    for (let t = 0; t < s.seq; t++) {
      const sl = s.slot[b * s.seq + t]!;
      if (sl >= 0) out[b * s.seq + t] = s.xobs[b * s.tc + sl]!;
      else {
        let acc = 0;
        for (let c = 0; c < s.cols; c++) acc += s.y[rest * s.cols + c]! * s.lift[t * s.cols + c]!;
        out[b * s.seq + t] = acc;
      }
    }
  }
  return out;
}

export function readoutFullBackwardCpu(s: CompactShape & { slot: Arr; dout: Arr; lift: Arr }): Float64Array {
  const out = new Float64Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) {
    const b = Math.floor(r / s.tc);
    for (let c = 0; c < s.cols; c++) {
      if (isRest(r, s.tc)) {
        let acc = 0;
        for (let t = 0; t < s.seq; t++) if (s.slot[b * s.seq + t]! < 0) acc += s.dout[b * s.seq + t]! * s.lift[t * s.cols + c]!;
        out[r * s.cols + c] = acc;
      }
    }
  }
  return out;
}

export function softmaxMultCpu(scores: Arr, rows: number, tc: number, mult: number): Float64Array {
  const out = new Float64Array(rows * tc);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let j = 0; j < tc; j++) mx = Math.max(mx, scores[r * tc + j]!);
    let z = 0;
    for (let j = 0; j < tc; j++) z += out[r * tc + j] = Math.exp(scores[r * tc + j]! - mx) * (j === tc - 1 ? mult : 1);
    for (let j = 0; j < tc; j++) out[r * tc + j]! /= z;
  }
  return out;
}

export function rowNormsCpu(p: Arr, atoms: number, seq: number): Float64Array {
  const out = new Float64Array(atoms);
  for (let m = 0; m < atoms; m++) {
    let acc = 0;
    for (let t = 0; t < seq; t++) acc += p[m * seq + t]! ** 2;
    out[m] = Math.sqrt(acc + 1e-20);
  }
  return out;
}

export function normalizeCpu(d: Arr, norms: Arr, atoms: number, cols: number, logEta?: number): { dn: Float64Array; wt: Float64Array | null } {
  const dn = new Float64Array(atoms * cols);
  for (let i = 0; i < dn.length; i++) dn[i] = d[i]! / norms[Math.floor(i / cols)]!;
  return { dn, wt: logEta === undefined ? null : dn.map((v) => Math.exp(logEta) * v) };
}

export function tiedBackwardCpu(g: Arr, dn: Arr, logEta: number): { ddn: Float64Array; dlogEta: number } {
  const eta = Math.exp(logEta);
  const ddn = new Float64Array(g.length);
  let s = 0;
  for (let i = 0; i < g.length; i++) {
    ddn[i] = eta * g[i]!;
    s += g[i]! * dn[i]!;
  }
  return { ddn, dlogEta: eta * s };
}

export function normalizeBackwardCpu(ddn: Arr, d: Arr, norms: Arr, pe: Arr, atoms: number, cols: number): Float64Array {
  const out = new Float64Array(atoms * cols);
  for (let m = 0; m < atoms; m++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += ddn[m * cols + c]! * d[m * cols + c]!;
    const n = norms[m]!;
    for (let c = 0; c < cols; c++) out[m * cols + c] = ddn[m * cols + c]! / n - (dot / n ** 3) * pe[m * cols + c]!;
  }
  return out;
}
