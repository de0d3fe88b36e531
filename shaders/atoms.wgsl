// Kernels of the dictionary-atoms adapter (src/adapters/atoms.ts) that are not matmuls:
//
//   head_mean        Ā[b, i, j] = (1/H) Σ_h A[b, h, i, j]                  (thread per element of Ā)
//   head_broadcast   dA[b, h, i, j] = dĀ[b, i, j] / H                       (thread per element of dA)
//   sparse_decode    out[r, c] (+)= Σ_j values[r, j] · D[idx[r, j], c]      (thread per (r, 16 columns))
//   scatter_code     S[r, idx[r, j]] = values[r, j]  (S cleared before)      (thread per slot (r, j))
//   code_grad        dU[r, m] = Σ_c dZ[r, c]·D[m, c] + w[m]·sign(value) for a live slot j
//                    (j < k', mask[m] ≠ 0) holding m  (dU cleared before)   (thread per slot (r, j))
//                    or, flag SLOTS, the same value at dU[r, j] ([rows, k], every slot written)
//   atom_stats       per atom: Σ_r |S[r, m]|, ‖D_m‖, w[m] = coef·‖D_m‖     (thread per atom)
//   atom_penalty     coef · Σ_m Σ_r|S[r, m]| · ‖D_m‖                        (one thread)
//   atom_penalty_dd  dD[m, c] += coef · Σ_r|S[r, m]| · D[m, c] / ‖D_m‖      (thread per element)
//   outer_atom       out[r, c] = S[r, m*] · D[m*, c]  (one atom's contribution, paper form)
//
// Every output element is written by exactly one thread and every sum runs in a fixed order:
// no atomics, no barriers, no workgroup memory (SwiftShader runs barriers as coroutine yields),
// deterministic. SwiftShader pays per invocation and per storage load (a gather per lane,
// whatever the pattern), so the sparse kernels give each invocation a slot or 16 columns — a
// thread per output element was much slower (numbers in src/kernels/atoms.ts). Top-k indices
// within a row are distinct (src/kernels/topk.ts), which makes the per-slot scatter and
// gradient race-free. Each entry point binds 0..n
// contiguously; entry points share binding numbers.

struct Params {
  rows: u32,
  atoms: u32,      // M
  cols: u32,       // C (C_o)
  k: u32,          // allocated top-k slots
  heads: u32,
  tt: u32,         // seq·seq
  n: u32,          // threads doing work
  row_stride: u32, // workgroups per dispatch-grid row
  flags: u32,      // bit0 accumulate, bit1 mask, bit2 weights
  atom: u32,       // outer_atom: m*
  coef: f32,       // l1 / rows (penalty); head_broadcast: 1/H
  _pad: u32,
}

const ACCUMULATE: u32 = 1u;
// Output columns per invocation of sparse_decode (more work per invocation: SwiftShader pays per invocation).
const CH: u32 = 16u;
const HAS_MASK: u32 = 2u;
const HAS_WEIGHTS: u32 = 4u;
const SLOTS: u32 = 8u; // code_grad: write dU in the code's slot layout [rows, k] instead of [rows, M]

@group(0) @binding(0) var<uniform> p: Params;

// head_mean: (1) probs (2) abar;  head_broadcast: (1) dabar (2) dprobs
@group(0) @binding(1) var<storage, read> h_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> h_out: array<f32>;

// sparse_decode: (1) idx (2) values (3) D (4) out;  scatter_code: (1) idx (2) values (3) S
@group(0) @binding(1) var<storage, read> sp_idx: array<u32>;
@group(0) @binding(2) var<storage, read> sp_val: array<f32>;
@group(0) @binding(3) var<storage, read> sp_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> sp_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc_out: array<f32>;

// code_grad: (1) idx (2) values (3) dZ (4) D (5) mask (6) kOverride (7) w (8) dU
@group(0) @binding(3) var<storage, read> cg_dz: array<f32>;
@group(0) @binding(4) var<storage, read> cg_d: array<f32>;
@group(0) @binding(5) var<storage, read> cg_mask: array<f32>;
@group(0) @binding(6) var<storage, read> cg_k: array<u32>;
@group(0) @binding(7) var<storage, read> cg_w: array<f32>;
@group(0) @binding(8) var<storage, read_write> cg_du: array<f32>;

// atom_stats: (1) S (2) D (3) absSum (4) dnorm (5) w
@group(0) @binding(1) var<storage, read> st_s: array<f32>;
@group(0) @binding(2) var<storage, read> st_d: array<f32>;
@group(0) @binding(3) var<storage, read_write> st_abs: array<f32>;
@group(0) @binding(4) var<storage, read_write> st_norm: array<f32>;
@group(0) @binding(5) var<storage, read_write> st_w: array<f32>;

// atom_penalty: (1) absSum (2) dnorm (3) out;  atom_penalty_dd: (1) absSum (2) dnorm (3) D (4) dD
@group(0) @binding(1) var<storage, read> pe_abs: array<f32>;
@group(0) @binding(2) var<storage, read> pe_norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> pe_out: array<f32>;
@group(0) @binding(3) var<storage, read> pd_d: array<f32>;
@group(0) @binding(4) var<storage, read_write> pd_dd: array<f32>;

// outer_atom: (1) S (2) D (3) out
@group(0) @binding(1) var<storage, read> oa_s: array<f32>;
@group(0) @binding(2) var<storage, read> oa_d: array<f32>;
@group(0) @binding(3) var<storage, read_write> oa_out: array<f32>;

fn flat(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

@compute @workgroup_size(64)
fn head_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let b = i / p.tt;
  let e = i % p.tt;
  let base = b * p.heads * p.tt + e;
  var s = 0.0;
  for (var h = 0u; h < p.heads; h++) { s += h_in[base + h * p.tt]; }
  h_out[i] = s / f32(p.heads);
}

@compute @workgroup_size(64)
fn head_broadcast(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let e = i % p.tt;
  let b = i / (p.tt * p.heads);
  h_out[i] = h_in[b * p.tt + e] * p.coef;
}

// Thread (r, chunk): CH = 16 output columns of one row, k slots; tail chunks go column by column.
@compute @workgroup_size(64)
fn sparse_decode(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  if (t >= p.n) { return; }
  let chunks = (p.cols + CH - 1u) / CH;
  let r = t / chunks;
  let c0 = (t % chunks) * CH;
  let o = r * p.cols + c0;
  let acc_old = (p.flags & ACCUMULATE) != 0u;
  if (c0 + CH <= p.cols) {
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var j = 0u; j < p.k; j++) {
      let m = sp_idx[r * p.k + j];
      if (m < p.atoms) {
        let v = sp_val[r * p.k + j];
        let b = m * p.cols + c0;
        a0 += v * vec4<f32>(sp_d[b], sp_d[b + 1u], sp_d[b + 2u], sp_d[b + 3u]);
        a1 += v * vec4<f32>(sp_d[b + 4u], sp_d[b + 5u], sp_d[b + 6u], sp_d[b + 7u]);
        a2 += v * vec4<f32>(sp_d[b + 8u], sp_d[b + 9u], sp_d[b + 10u], sp_d[b + 11u]);
        a3 += v * vec4<f32>(sp_d[b + 12u], sp_d[b + 13u], sp_d[b + 14u], sp_d[b + 15u]);
      }
    }
    for (var q = 0u; q < 4u; q++) {
      var old = vec4<f32>(0.0);
      if (acc_old) { old = vec4<f32>(sp_out[o + 4u * q], sp_out[o + 4u * q + 1u], sp_out[o + 4u * q + 2u], sp_out[o + 4u * q + 3u]); }
      var v = a0;
      if (q == 1u) { v = a1; } else if (q == 2u) { v = a2; } else if (q == 3u) { v = a3; }
      v += old;
      sp_out[o + 4u * q] = v.x;
      sp_out[o + 4u * q + 1u] = v.y;
      sp_out[o + 4u * q + 2u] = v.z;
      sp_out[o + 4u * q + 3u] = v.w;
    }
    return;
  }
  for (var c = c0; c < p.cols; c++) {
    var acc = 0.0;
    for (var j = 0u; j < p.k; j++) {
      let m = sp_idx[r * p.k + j];
      if (m < p.atoms) { acc += sp_val[r * p.k + j] * sp_d[m * p.cols + c]; }
    }
    if (acc_old) { acc += sp_out[r * p.cols + c]; }
    sp_out[r * p.cols + c] = acc;
  }
}

// Thread per slot (r, j); S must be zero beforehand (the TS side clears it).
@compute @workgroup_size(64)
fn scatter_code(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  if (t >= p.n) { return; }
  let r = t / p.k;
  let m = sp_idx[t];
  if (m < p.atoms) { sc_out[r * p.atoms + m] = sp_val[t]; }
}

// Thread per slot (r, j); dU must be zero beforehand (the TS side clears it).
@compute @workgroup_size(64)
fn code_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  if (t >= p.n) { return; }
  let r = t / p.k;
  let j = t % p.k;
  let m = sp_idx[t];
  let slots = (p.flags & SLOTS) != 0u;
  if (m >= p.atoms) {
    if (slots) { cg_du[t] = 0.0; } // the slot layout is not cleared before: write every slot
    return;
  }
  var live = j < min(cg_k[0], p.k);
  if ((p.flags & HAS_MASK) != 0u && cg_mask[m] == 0.0) { live = false; }
  var g = 0.0;
  if (live) {
    let zr = r * p.cols;
    let dm = m * p.cols;
    let c4 = p.cols & ~3u;
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < c4; c += 4u) {
      acc += vec4<f32>(cg_dz[zr + c], cg_dz[zr + c + 1u], cg_dz[zr + c + 2u], cg_dz[zr + c + 3u]) *
             vec4<f32>(cg_d[dm + c], cg_d[dm + c + 1u], cg_d[dm + c + 2u], cg_d[dm + c + 3u]);
    }
    g = acc.x + acc.y + acc.z + acc.w;
    for (var c = c4; c < p.cols; c++) { g += cg_dz[zr + c] * cg_d[dm + c]; }
    if ((p.flags & HAS_WEIGHTS) != 0u) { g += cg_w[m] * sign(sp_val[t]); }
  }
  cg_du[select(r * p.atoms + m, t, slots)] = g;
}

@compute @workgroup_size(64)
fn atom_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = flat(wg, lid);
  if (m >= p.atoms) { return; }
  var a = 0.0;
  for (var r = 0u; r < p.rows; r++) { a += abs(st_s[r * p.atoms + m]); }
  var q = 0.0;
  for (var c = 0u; c < p.cols; c++) {
    let v = st_d[m * p.cols + c];
    q += v * v;
  }
  let nrm = sqrt(q);
  st_abs[m] = a;
  st_norm[m] = nrm;
  st_w[m] = p.coef * nrm;
}

@compute @workgroup_size(1)
fn atom_penalty() {
  var s = 0.0;
  for (var m = 0u; m < p.atoms; m++) { s += pe_abs[m] * pe_norm[m]; }
  pe_out[0] = p.coef * s;
}

@compute @workgroup_size(64)
fn atom_penalty_dd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let m = i / p.cols;
  let nrm = pe_norm[m];
  // Subgradient 0 at D_m = 0 (the zero initialisation).
  if (nrm > 0.0) { pd_dd[i] = pd_dd[i] + p.coef * pe_abs[m] * pd_d[i] / nrm; }
}

@compute @workgroup_size(64)
fn outer_atom(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  oa_out[i] = oa_s[r * p.atoms + p.atom] * oa_d[p.atom * p.cols + c];
}
