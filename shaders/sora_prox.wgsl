// SoRA's proximal gate step (Ding et al. 2023, eq. 17 as the STAN paper's App. B writes it),
// run after the optimizer has updated the gate:
//   g ← T_ξ(g),  ξ = lr · lr_scale · λ,   T_ξ(x) = x − ξ (x > ξ), 0 (|x| ≤ ξ), x + ξ (x < −ξ)
// and the number of non-zero gates afterwards, as an f32 metric. One thread: the gate has
// `rank` entries (a few to a few hundred), and the count needs them all.

struct StepParams { step: u32, slot: u32, lr: f32, lr_scale: f32, flags: u32, lambda: f32, _p0: u32, _p1: u32 }

struct ProxParams {
  rank: u32,
  lambda: f32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> sp: StepParams;
@group(0) @binding(1) var<uniform> pp: ProxParams;
@group(0) @binding(2) var<storage, read_write> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> nonzero: array<f32>;

@compute @workgroup_size(1)
fn main() {
  let xi = (sp.lr * sp.lr_scale) * pp.lambda;
  var count = 0u;
  for (var j = 0u; j < pp.rank; j++) {
    let g = gate[j];
    var v = 0.0; // |g| ≤ ξ (and NaN) → 0
    if (g > xi) {
      v = g - xi;
    } else if (g < -xi) {
      v = g + xi;
    }
    gate[j] = v;
    if (v != 0.0) { count = count + 1u; }
  }
  nonzero[0] = f32(count);
}
