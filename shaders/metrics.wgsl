// Copies up to six scalars into row `slot` (from the per-step uniform) of the metric history
// [rows, fields], one thread. The MetricRing maps that history every `interval` steps.

struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }

struct MetricParams {
  rows: u32,    // history rows (the ring interval)
  fields: u32,  // history columns
  count: u32,   // sources used (1..6)
  _p0: u32,
  field: array<vec4<u32>, 2>, // column of source k at field[k / 4][k % 4]
}

@group(0) @binding(0) var<uniform> sp: StepParams;
@group(0) @binding(1) var<uniform> mp: MetricParams;
@group(0) @binding(2) var<storage, read_write> history: array<f32>;
@group(0) @binding(3) var<storage, read> s0: array<f32>;
@group(0) @binding(4) var<storage, read> s1: array<f32>;
@group(0) @binding(5) var<storage, read> s2: array<f32>;
@group(0) @binding(6) var<storage, read> s3: array<f32>;
@group(0) @binding(7) var<storage, read> s4: array<f32>;
@group(0) @binding(8) var<storage, read> s5: array<f32>;

fn put(k: u32, v: f32) {
  if (k >= mp.count) { return; }
  let f = mp.field[k / 4u][k % 4u];
  history[sp.slot * mp.fields + f] = v;
}

@compute @workgroup_size(1)
fn write_metrics() {
  if (sp.slot >= mp.rows) { return; }
  put(0u, s0[0]);
  put(1u, s1[0]);
  put(2u, s2[0]);
  put(3u, s3[0]);
  put(4u, s4[0]);
  put(5u, s5[0]);
}
