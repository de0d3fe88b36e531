// Kernels of the transformer VAE (src/kernels/vae.ts): the image ↔ patch-token permutation,
// sigmoid, BCE-with-logits (strided partial sums + gradient), the reparameterisation with its
// KL terms, their backward, and the final loss combine. No barriers, no workgroup memory, no
// atomics: every sum is a fixed-order strided pass followed by reduce.wgsl's folds.
//
// Entry points declare their own bindings (Dawn accepts repeated binding numbers across entry
// points); each uses 0..k-1 contiguously.

struct Params {
  n: u32,          // elements (patchify / sigmoid / reparam); BCE: elements
  row_stride: u32, // workgroups per grid row (2-D grids)
  side: u32,       // patchify: image side
  psize: u32,      // patchify: patch side (`patch` is reserved in WGSL)
  flags: u32,      // patchify: 1 = patch → image; BCE: 1 = write the gradient
  threads: u32,    // BCE partial: threads T (thread t folds i = t, t+T, …)
  scale: f32,      // BCE: gradient factor; reparam backward and combine: 1/B
  lead: u32,       // patchify: zero tokens before each image's patches in patch layout (a CLS slot)
}

@group(0) @binding(0) var<uniform> p: Params;

fn flat(wg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * p.row_stride + wg.x) * 64u + lid;
}

// ---------- patchify / unpatchify ----------
// Image layout [B, side, side]; patch layout [B, lead + T, patch²]: `lead` all-zero tokens (a
// CLS slot; usually 0), then the T tokens in row-major order over the (side/patch)² grid, pixels
// row-major inside a patch.

@group(0) @binding(1) var<storage, read> perm_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> perm_out: array<f32>;

// Index in image layout of element `q` (0 … side²−1) of an image in patch layout.
fn image_index_of_patch_elem(q: u32) -> u32 {
  let pp = p.psize * p.psize;
  let t = q / pp;
  let r = q % pp;
  let per_row = p.side / p.psize;
  let y = (t / per_row) * p.psize + r / p.psize;
  let x = (t % per_row) * p.psize + r % p.psize;
  return y * p.side + x;
}

// Index in patch layout of element `q` of an image in image layout.
fn patch_index_of_image_elem(q: u32) -> u32 {
  let y = q / p.side;
  let x = q % p.side;
  let per_row = p.side / p.psize;
  let t = (y / p.psize) * per_row + x / p.psize;
  return t * p.psize * p.psize + (y % p.psize) * p.psize + x % p.psize;
}

@compute @workgroup_size(64)
fn permute(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = flat(wg, lid);
  if (o >= p.n) { return; }
  let img = p.side * p.side;
  let lead = p.lead * p.psize * p.psize; // values of the leading zero tokens per image
  if (p.flags == 1u) {
    // out is image layout [B, side²], in is patch layout [B, lead + T, patch²]
    let b = o / img;
    let q = o % img;
    perm_out[o] = perm_in[b * (img + lead) + lead + patch_index_of_image_elem(q)];
  } else {
    // out is patch layout [B, lead + T, patch²] (lead tokens zero), in is image layout
    let per = img + lead;
    let b = o / per;
    let q = o % per;
    if (q < lead) {
      perm_out[o] = 0.0;
    } else {
      perm_out[o] = perm_in[b * img + image_index_of_patch_elem(q - lead)];
    }
  }
}

// ---------- sigmoid ----------

fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

@compute @workgroup_size(64)
fn sigmoid_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  perm_out[i] = sigmoid(perm_in[i]);
}

// ---------- BCE with logits ----------
// loss_i = max(x, 0) − x·y + log(1 + exp(−|x|)),   dloss_i/dx = sigmoid(x) − y.

@group(0) @binding(1) var<storage, read> bce_logits: array<f32>;
@group(0) @binding(2) var<storage, read> bce_target: array<f32>;
@group(0) @binding(3) var<storage, read_write> bce_partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> bce_grad: array<f32>;

// log(1 + e) for e in (0, 1]: the series below 1e-4, where 1 + e rounds in f32.
fn log1p_small(e: f32) -> f32 {
  if (e < 1e-4) { return e * (1.0 - 0.5 * e); }
  return log(1.0 + e);
}

@compute @workgroup_size(64)
fn bce_partial_sums(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat(wg, lid);
  let T = p.threads;
  if (t >= T) { return; }
  let write_grad = (p.flags & 1u) != 0u;
  var s = 0.0;
  for (var i = t; i < p.n; i += T) {
    let x = bce_logits[i];
    let y = bce_target[i];
    s += max(x, 0.0) - x * y + log1p_small(exp(-abs(x)));
    if (write_grad) { bce_grad[i] = p.scale * (sigmoid(x) - y); }
  }
  bce_partial[t] = s;
}

// ---------- reparameterisation + KL ----------
// z = μ + exp(½·logσ²)·ε;   kl_i = ½·(μ² + exp(logσ²) − 1 − logσ²)

@group(0) @binding(1) var<storage, read> rp_mu: array<f32>;
@group(0) @binding(2) var<storage, read> rp_logvar: array<f32>;
@group(0) @binding(3) var<storage, read> rp_eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> rp_z: array<f32>;
@group(0) @binding(5) var<storage, read_write> rp_kl: array<f32>;

@compute @workgroup_size(64)
fn reparam_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let mu = rp_mu[i];
  let lv = rp_logvar[i];
  let sd = exp(0.5 * lv);
  rp_z[i] = mu + sd * rp_eps[i];
  rp_kl[i] = 0.5 * (mu * mu + sd * sd - 1.0 - lv);
}

// dμ = dz + s·μ;   dlogσ² = ½·dz·ε·exp(½·logσ²) + s·½·(exp(logσ²) − 1),   s = β·p.scale (β/B),
// β read from a one-element buffer (the task may change it per step: KL warm-up).
@group(0) @binding(4) var<storage, read> rb_dz: array<f32>;
@group(0) @binding(5) var<storage, read_write> rb_dmu: array<f32>;
@group(0) @binding(6) var<storage, read_write> rb_dlogvar: array<f32>;
@group(0) @binding(7) var<storage, read> rb_beta: array<f32>;

@compute @workgroup_size(64)
fn reparam_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat(wg, lid);
  if (i >= p.n) { return; }
  let mu = rp_mu[i];
  let lv = rp_logvar[i];
  let sd = exp(0.5 * lv);
  let dz = rb_dz[i];
  let s = rb_beta[0] * p.scale;
  rb_dmu[i] = dz + s * mu;
  rb_dlogvar[i] = 0.5 * dz * rp_eps[i] * sd + s * 0.5 * (sd * sd - 1.0);
}

// ---------- loss combine (one thread) ----------
// rec = Σbce / B, kl = Σkl / B, loss = rec + β·kl, β read from a one-element buffer.

@group(0) @binding(1) var<storage, read> cb_rec_sum: array<f32>;
@group(0) @binding(2) var<storage, read> cb_kl_sum: array<f32>;
@group(0) @binding(3) var<storage, read_write> cb_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> cb_rec: array<f32>;
@group(0) @binding(5) var<storage, read_write> cb_kl: array<f32>;
@group(0) @binding(6) var<storage, read> cb_beta: array<f32>;

@compute @workgroup_size(1)
fn loss_combine() {
  let rec = cb_rec_sum[0] * p.scale;
  let kl = cb_kl_sum[0] * p.scale;
  cb_rec[0] = rec;
  cb_kl[0] = kl;
  cb_loss[0] = rec + cb_beta[0] * kl;
}
