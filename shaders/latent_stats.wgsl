// Per-latent activation statistics (STAN App. F), accumulated on the GPU across batches.
// One invocation per latent walks its bucket (the sparse code's (row, slot) pairs sorted by
// latent, in increasing pair order — see recordBucketSort), so every sum has a fixed order and
// no float atomics are needed. Sums are Kahan-compensated: they stay accurate over many steps.
//
// ustats (u32): count[l] | last_fired[l] (0xffffffff = never) | samples (1)
// sums (f32): sum[l] | sum_comp[l] | class_sum[l·C] | class_comp[l·C]

struct Params {
  l: u32,
  k: u32,
  rows: u32,
  classes: u32,   // 0: no labels
  abs_mode: u32,  // 1: activation = |value| (top-k on |E·x|); 0: activation = value
  row_stride: u32,
  _p0: u32,
  _p1: u32,
}

struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> sp: StepParams;
@group(0) @binding(2) var<storage, read> start: array<u32>;
@group(0) @binding(3) var<storage, read> pairs: array<u32>;
@group(0) @binding(4) var<storage, read> values: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<f32>;
@group(0) @binding(6) var<storage, read_write> ustats: array<u32>;
@group(0) @binding(7) var<storage, read_write> sums: array<f32>;

// Kahan step on sums[at] with its compensation at sums[comp_at].
fn kahan_add(at: u32, comp_at: u32, v: f32) {
  let y = v - sums[comp_at];
  let t = sums[at] + y;
  sums[comp_at] = (t - sums[at]) - y;
  sums[at] = t;
}

@compute @workgroup_size(64)
fn accumulate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * p.row_stride + wg.x) * 64u + lid;
  let l = p.l;
  if (i == 0u) { ustats[2u * l] += p.rows; }
  if (i >= l) { return; }
  var count = 0u;
  var s = 0.0;
  let C = p.classes;
  let cls_base = 2u * l;
  let comp_base = 2u * l + l * C;
  let end = start[i + 1u];
  for (var q = start[i]; q < end; q++) {
    let pair = pairs[q];
    var a = values[pair];
    if (p.abs_mode != 0u) { a = abs(a); }
    if (a > 0.0) {
      count++;
      s += a;
      if (C > 0u) {
        let lab = labels[pair / p.k];
        if (lab >= 0.0 && lab < f32(C)) {
          let c = u32(lab);
          kahan_add(cls_base + i * C + c, comp_base + i * C + c, a);
        }
      }
    }
  }
  if (count > 0u) {
    ustats[i] += count;
    ustats[l + i] = sp.step;
    kahan_add(i, l + i, s);
  }
}

// ---------- windowed statistics (the last W steps, one slot per step) ----------
// Each training step writes its own slot (step % W) — overwriting what the step W steps earlier
// left there — and `window_reduce` sums the W slots in a fixed order when the totals are read.
// slots_u (u32): [W][l + 1]: count per latent, then the step's rows.
// slots_f (f32): [W][F], F = l + l·C + 2: sum per latent | class sums [l·C] | Σ‖ΔO‖² | Σ‖O‖².
// totals (f32): count[l] | rows | sum[l] | class sums [l·C] | Σ‖ΔO‖² | Σ‖O‖²  (counts exact below 2^24).

struct WParams {
  l: u32,
  k: u32,        // sparse: slots per row; dense: unused
  rows: u32,
  classes: u32,
  abs_mode: u32,
  row_stride: u32,
  slots: u32,    // W
  width: u32,    // norms: elements per row of ΔO / O; reduce: total outputs
  has_labels: u32,
  _w0: u32,
  _w1: u32,
  _w2: u32,
}

// window_sparse and window_dense share bindings 0–5; window_sparse adds the buckets (6, 7).
@group(0) @binding(0) var<uniform> wp: WParams;
@group(0) @binding(1) var<uniform> wsp: StepParams;
@group(0) @binding(2) var<storage, read_write> w_slots_u: array<u32>;
@group(0) @binding(3) var<storage, read_write> w_slots_f: array<f32>;
@group(0) @binding(4) var<storage, read> w_values: array<f32>;
@group(0) @binding(5) var<storage, read> w_labels: array<f32>;
@group(0) @binding(6) var<storage, read> w_start: array<u32>;
@group(0) @binding(7) var<storage, read> w_pairs: array<u32>;

fn w_floats() -> u32 { return wp.l + wp.l * wp.classes + 2u; }

fn w_activation(v: f32) -> f32 {
  if (wp.abs_mode != 0u) { return abs(v); }
  return v;
}

// Unit i's count and sum of positive activations in this step, in the order they are added.
struct WAcc { count: u32, sum: f32 }

// Starts unit i's part of this step's slot: invocation 0 writes the step's rows; a unit clears
// its class sums. False for invocations past the last unit.
fn w_begin(i: u32) -> bool {
  let l = wp.l;
  let C = wp.classes;
  let slot = wsp.step % wp.slots;
  if (i == 0u) { w_slots_u[slot * (l + 1u) + l] = wp.rows; }
  if (i >= l) { return false; }
  let sf = slot * w_floats();
  for (var c = 0u; c < C; c++) { w_slots_f[sf + l + i * C + c] = 0.0; }
  return true;
}

// Adds unit i's value v on row `row`: when its activation is > 0, it counts, joins the sum and,
// with labels, the class sum of the row's label (labels outside 0…C−1 are skipped).
fn w_add(acc: ptr<function, WAcc>, i: u32, v: f32, row: u32) {
  let a = w_activation(v);
  if (a > 0.0) {
    (*acc).count++;
    (*acc).sum += a;
    let C = wp.classes;
    if (C > 0u && wp.has_labels != 0u) {
      let lab = w_labels[row];
      if (lab >= 0.0 && lab < f32(C)) {
        let at = (wsp.step % wp.slots) * w_floats() + wp.l + i * C + u32(lab);
        w_slots_f[at] = w_slots_f[at] + a;
      }
    }
  }
}

// Writes unit i's count and sum into this step's slot.
fn w_finish(i: u32, acc: WAcc) {
  let slot = wsp.step % wp.slots;
  w_slots_u[slot * (wp.l + 1u) + i] = acc.count;
  w_slots_f[slot * w_floats() + i] = acc.sum;
}

// One invocation per latent: its bucket of (row, slot) pairs (recordBucketSort), in pair order.
@compute @workgroup_size(64)
fn window_sparse(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * wp.row_stride + wg.x) * 64u + lid;
  if (!w_begin(i)) { return; }
  var acc = WAcc(0u, 0.0);
  let end = w_start[i + 1u];
  for (var q = w_start[i]; q < end; q++) {
    let pair = w_pairs[q];
    w_add(&acc, i, w_values[pair], pair / wp.k);
  }
  w_finish(i, acc);
}

// Dense codes [rows, l] (atoms' S): one invocation per unit walks the rows in order.
@compute @workgroup_size(64)
fn window_dense(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * wp.row_stride + wg.x) * 64u + lid;
  if (!w_begin(i)) { return; }
  var acc = WAcc(0u, 0.0);
  for (var r = 0u; r < wp.rows; r++) {
    w_add(&acc, i, w_values[r * wp.l + i], r);
  }
  w_finish(i, acc);
}

@group(0) @binding(2) var<storage, read> wn_delta: array<f32>;
@group(0) @binding(3) var<storage, read> wn_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> wn_slots_f: array<f32>;

var<workgroup> wn_sd: array<f32, 256>;
var<workgroup> wn_so: array<f32, 256>;

// Σ‖ΔO‖² and Σ‖O‖² of the step into its slot: one workgroup, strided partial sums, then a tree.
@compute @workgroup_size(256)
fn window_norms(@builtin(local_invocation_index) lid: u32) {
  let n = wp.rows * wp.width;
  var sd = 0.0;
  var so = 0.0;
  for (var j = lid; j < n; j += 256u) {
    let d = wn_delta[j];
    let o = wn_out[j];
    sd += d * d;
    so += o * o;
  }
  wn_sd[lid] = sd;
  wn_so[lid] = so;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid < h) {
      wn_sd[lid] += wn_sd[lid + h];
      wn_so[lid] += wn_so[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let sf = (wsp.step % wp.slots) * w_floats();
    wn_slots_f[sf + wp.l + wp.l * wp.classes] = wn_sd[0];
    wn_slots_f[sf + wp.l + wp.l * wp.classes + 1u] = wn_so[0];
  }
}

@group(0) @binding(1) var<storage, read> wr_slots_u: array<u32>;
@group(0) @binding(2) var<storage, read> wr_slots_f: array<f32>;
@group(0) @binding(3) var<storage, read_write> wr_totals: array<f32>;

// totals[j] = Σ over the W slots in slot order (counts summed as u32, then converted).
@compute @workgroup_size(64)
fn window_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = (wg.y * wp.row_stride + wg.x) * 64u + lid;
  let l = wp.l;
  let F = w_floats();
  if (j >= l + 1u + F) { return; }
  if (j <= l) {
    var c = 0u;
    for (var w = 0u; w < wp.slots; w++) { c += wr_slots_u[w * (l + 1u) + j]; }
    wr_totals[j] = f32(c);
    return;
  }
  let f = j - l - 1u;
  var s = 0.0;
  for (var w = 0u; w < wp.slots; w++) { s += wr_slots_f[w * F + f]; }
  wr_totals[j] = s;
}
