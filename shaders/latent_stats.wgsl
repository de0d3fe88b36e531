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
