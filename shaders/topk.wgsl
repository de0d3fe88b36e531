// Per-row top-k of x [rows, l] → indices (u32) [rows, kAlloc], values (f32) [rows, kAlloc].
//
// Order: slot 0 holds the best entry; entries descend by key (the value in 'signed' mode, |value|
// in 'abs' mode) and equal keys go to the lower index first. Selection ties at the k-th key are
// broken the same way (the lower indices win). +0 and −0 compare equal; NaNs order by their bit
// pattern (a positive NaN above +inf).
// The top kAlloc entries are always selected; then slots ≥ k' (k' = min(kbuf[0], kAlloc), the
// k override) and slots whose latent is masked off (mask[idx] == 0) get value 0 and keep their
// index — a masked latent is zeroed after selection, never replaced by another.
//
// Two kernels with the same output:
//  - 'thread' variant, one invocation per row, no workgroup memory or barriers (SwiftShader,
//    where barriers are very slow):
//      topk_insert4 / topk_insert (k ≤ 64): a lower bound of the k-th key from chunk maxima, then
//      one filtered insertion pass into a sorted private list (vec4 loads when l % 4 == 0);
//      topk_thread (any k): radix select of the k-th key (≤ 4 passes of 8-bit histograms in
//      private memory, stopping early once a whole bucket is taken), one collecting pass in index
//      order, then a stable sort of the k collected entries (insertion for k ≤ 32, else a 4-pass
//      LSD radix sort through `scratch`).
//  - topk_wg: one 256-invocation workgroup per row (real GPUs): the same radix select with a
//    shared atomic histogram, collection into workgroup memory, bitonic sort there (k ≤ 1024).

struct Params {
  rows: u32,
  l: u32,
  k: u32,        // kAlloc: slots per row
  flags: u32,    // 1: abs mode, 2: mask present
  row_stride: u32, // workgroups per grid row (2-D grids)
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_val: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read> kbuf: array<u32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<u32>;

override THREAD_WG: u32 = 16u;

// Order-preserving u32 key: larger key = better.
fn key_of(v: f32) -> u32 {
  if (v == 0.0) { return select(0x80000000u, 0u, (p.flags & 1u) != 0u); }
  let b = bitcast<u32>(v);
  if ((p.flags & 1u) != 0u) { return b & 0x7fffffffu; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

fn active_k() -> u32 {
  return min(kbuf[0], p.k);
}

fn final_value(slot: u32, idx: u32, v: f32, kk: u32) -> f32 {
  if (slot >= kk) { return 0.0; }
  if ((p.flags & 2u) != 0u && mask[idx] == 0.0) { return 0.0; }
  return v;
}

// ---------------------------------------------------------------- one invocation per row

@compute @workgroup_size(THREAD_WG)
fn topk_thread(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * p.row_stride + wg.x) * THREAD_WG + lid;
  if (r >= p.rows) { return; }
  let l = p.l;
  let k = p.k;
  let xo = r * l;
  let oo = r * k;

  // Radix select: after the loop every key with (key & pmask) > prefix is selected, and `need`
  // of the keys with (key & pmask) == prefix (the lowest indices); all of them when take_all.
  var hist: array<u32, 256>;
  var prefix = 0u;
  var pmask = 0u;
  var need = k;
  var take_all = false;
  for (var pass_i = 0u; pass_i < 4u; pass_i++) {
    let shift = 24u - 8u * pass_i;
    for (var b = 0u; b < 256u; b++) { hist[b] = 0u; }
    for (var i = 0u; i < l; i++) {
      let key = key_of(x[xo + i]);
      if ((key & pmask) == prefix) {
        let d = (key >> shift) & 255u;
        hist[d] = hist[d] + 1u;
      }
    }
    var b = 255u;
    loop {
      let c = hist[b];
      if (c >= need || b == 0u) { break; }
      need -= c;
      b -= 1u;
    }
    prefix |= b << shift;
    pmask |= 255u << shift;
    if (hist[b] == need) { take_all = true; break; }
  }

  // Collect in index order.
  var n = 0u;
  var taken = 0u;
  for (var i = 0u; i < l; i++) {
    let v = x[xo + i];
    let km = key_of(v) & pmask;
    var sel = km > prefix;
    if (km == prefix) {
      if (take_all || taken < need) { sel = true; taken++; }
    }
    if (sel) {
      out_idx[oo + n] = i;
      out_val[oo + n] = v;
      n++;
    }
  }

  let kk = active_k();
  // Stable LSD radix sort on ~key (ascending ~key = descending key), 4 passes of 8 bits:
  // out → scratch → out → scratch → out. scratch holds (value bits, index) pairs.
  let so = 2u * r * k;
  for (var pass_i = 0u; pass_i < 4u; pass_i++) {
    let shift = 8u * pass_i;
    let from_out = (pass_i & 1u) == 0u;
    for (var b = 0u; b < 256u; b++) { hist[b] = 0u; }
    for (var s = 0u; s < k; s++) {
      var vb: u32;
      if (from_out) { vb = bitcast<u32>(out_val[oo + s]); } else { vb = scratch[so + 2u * s]; }
      let d = ((~key_of(bitcast<f32>(vb))) >> shift) & 255u;
      hist[d] = hist[d] + 1u;
    }
    var run = 0u;
    for (var b = 0u; b < 256u; b++) {
      let c = hist[b];
      hist[b] = run;
      run += c;
    }
    for (var s = 0u; s < k; s++) {
      var vb: u32;
      var ix: u32;
      if (from_out) {
        vb = bitcast<u32>(out_val[oo + s]);
        ix = out_idx[oo + s];
      } else {
        vb = scratch[so + 2u * s];
        ix = scratch[so + 2u * s + 1u];
      }
      let d = ((~key_of(bitcast<f32>(vb))) >> shift) & 255u;
      let dst = hist[d];
      hist[d] = dst + 1u;
      if (from_out) {
        scratch[so + 2u * dst] = vb;
        scratch[so + 2u * dst + 1u] = ix;
      } else {
        var v = bitcast<f32>(vb);
        if (pass_i == 3u) { v = final_value(dst, ix, v, kk); } // earlier passes keep raw values: they are the sort keys
        out_val[oo + dst] = v;
        out_idx[oo + dst] = ix;
      }
    }
  }
}

// ---------------------------------------------------------------- one invocation per row, k ≤ 64
// A lower bound T0 of the k-th key: split the row into k chunks; each chunk's max is a distinct
// element ≥ min(chunk maxima), so at least k keys are ≥ T0 and nothing below T0 can be selected.
// Then one pass in index order keeps a sorted list of the best k (private memory), rejecting
// four elements at a time while their keys are below the running threshold (T0, then the
// list's last key). Equal keys never displace earlier (lower-index) entries.

const INSERT_MAX: u32 = 64u;

struct InsertList {
  keys: array<u32, INSERT_MAX>,
  ids: array<u32, INSERT_MAX>,
  n: u32,
  thr: u32,
}

fn insert_one(s: ptr<function, InsertList>, key: u32, id: u32, k: u32) {
  if ((*s).n < k) {
    if (key < (*s).thr) { return; }
  } else if (key <= (*s).thr) {
    return;
  }
  var j = min((*s).n, k - 1u);
  loop {
    if (j == 0u) { break; }
    if ((*s).keys[j - 1u] >= key) { break; }
    (*s).keys[j] = (*s).keys[j - 1u];
    (*s).ids[j] = (*s).ids[j - 1u];
    j--;
  }
  (*s).keys[j] = key;
  (*s).ids[j] = id;
  if ((*s).n < k) { (*s).n++; }
  if ((*s).n == k) { (*s).thr = (*s).keys[k - 1u]; }
}

fn key4(v: vec4<f32>) -> vec4<u32> {
  let b = bitcast<vec4<u32>>(v);
  let z = v == vec4<f32>(0.0);
  if ((p.flags & 1u) != 0u) { return select(b & vec4<u32>(0x7fffffffu), vec4<u32>(0u), z); }
  let neg = (b & vec4<u32>(0x80000000u)) != vec4<u32>(0u);
  return select(select(b | vec4<u32>(0x80000000u), ~b, neg), vec4<u32>(0x80000000u), z);
}

@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;

// l % 4 == 0: vec4 loads.
@compute @workgroup_size(THREAD_WG)
fn topk_insert4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * p.row_stride + wg.x) * THREAD_WG + lid;
  if (r >= p.rows) { return; }
  let k = p.k;
  let g = p.l / 4u;
  let xo4 = r * g;
  var s: InsertList;
  s.n = 0u;
  s.thr = 0u;
  if (k <= g) {
    var t0 = 0xffffffffu;
    for (var c = 0u; c < k; c++) {
      var mx = vec4<u32>(0u);
      for (var i = c * g / k; i < (c + 1u) * g / k; i++) { mx = max(mx, key4(x4[xo4 + i])); }
      t0 = min(t0, max(max(mx.x, mx.y), max(mx.z, mx.w)));
    }
    s.thr = t0;
  }
  for (var i = 0u; i < g; i++) {
    let kv = key4(x4[xo4 + i]);
    if (!any(kv >= vec4<u32>(s.thr))) { continue; }
    for (var q = 0u; q < 4u; q++) { insert_one(&s, kv[q], 4u * i + q, k); }
  }
  let kk = active_k();
  let oo = r * k;
  for (var j = 0u; j < k; j++) {
    let id = s.ids[j];
    out_idx[oo + j] = id;
    out_val[oo + j] = final_value(j, id, x4[xo4 + id / 4u][id % 4u], kk);
  }
}

// Any l: scalar loads.
@compute @workgroup_size(THREAD_WG)
fn topk_insert(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.y * p.row_stride + wg.x) * THREAD_WG + lid;
  if (r >= p.rows) { return; }
  let k = p.k;
  let l = p.l;
  let xo = r * l;
  var s: InsertList;
  s.n = 0u;
  s.thr = 0u;
  var t0 = 0xffffffffu;
  for (var c = 0u; c < k; c++) {
    var mx = 0u;
    for (var i = c * l / k; i < (c + 1u) * l / k; i++) { mx = max(mx, key_of(x[xo + i])); }
    t0 = min(t0, mx);
  }
  s.thr = t0;
  for (var i = 0u; i < l; i++) { insert_one(&s, key_of(x[xo + i]), i, k); }
  let kk = active_k();
  let oo = r * k;
  for (var j = 0u; j < k; j++) {
    let id = s.ids[j];
    out_idx[oo + j] = id;
    out_val[oo + j] = final_value(j, id, x[xo + id], kk);
  }
}

// ---------------------------------------------------------------- one workgroup per row

const WG: u32 = 256u;
const SORT_CAP: u32 = 1024u;

var<workgroup> w_hist: array<atomic<u32>, 256>;
var<workgroup> w_count: atomic<u32>;
var<workgroup> w_prefix: u32;
var<workgroup> w_pmask: u32;
var<workgroup> w_need: u32;
var<workgroup> w_take_all: u32;
var<workgroup> w_done: u32;
var<workgroup> w_key: array<u32, SORT_CAP>;
var<workgroup> w_idx: array<u32, SORT_CAP>;

// a before b in the output order (padding, idx 0xffffffff with key 0, goes last)
fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(256)
fn topk_wg(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * p.row_stride + wg.x;
  if (r >= p.rows) { return; } // uniform across the workgroup
  let l = p.l;
  let k = p.k;
  let xo = r * l;
  let oo = r * k;

  if (lid == 0u) {
    w_prefix = 0u;
    w_pmask = 0u;
    w_need = k;
    w_take_all = 0u;
    w_done = 0u;
    atomicStore(&w_count, 0u);
  }
  for (var pass_i = 0u; pass_i < 4u; pass_i++) {
    let shift = 24u - 8u * pass_i;
    atomicStore(&w_hist[lid], 0u);
    workgroupBarrier();
    let prefix = w_prefix;
    let pmask = w_pmask;
    for (var i = lid; i < l; i += WG) {
      let key = key_of(x[xo + i]);
      if ((key & pmask) == prefix) { atomicAdd(&w_hist[(key >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (lid == 0u) {
      var need = w_need;
      var b = 255u;
      loop {
        let c = atomicLoad(&w_hist[b]);
        if (c >= need || b == 0u) { break; }
        need -= c;
        b -= 1u;
      }
      w_prefix = prefix | (b << shift);
      w_pmask = pmask | (255u << shift);
      w_need = need;
      if (atomicLoad(&w_hist[b]) == need) { w_take_all = 1u; w_done = 1u; }
      if (pass_i == 3u) { w_done = 1u; }
    }
    let done = workgroupUniformLoad(&w_done);
    if (done != 0u) { break; }
  }
  workgroupBarrier();
  let prefix = w_prefix;
  let pmask = w_pmask;
  let take_all = w_take_all != 0u;
  let need = w_need;
  // Everything strictly above the threshold (and the whole threshold bucket when take_all).
  for (var i = lid; i < l; i += WG) {
    let km = key_of(x[xo + i]) & pmask;
    if (km > prefix || (take_all && km == prefix)) {
      let s = atomicAdd(&w_count, 1u);
      w_key[s] = key_of(x[xo + i]);
      w_idx[s] = i;
    }
  }
  workgroupBarrier();
  // Ties at the exact threshold (pmask is full here): the `need` lowest indices.
  if (!take_all && lid == 0u) {
    var s = atomicLoad(&w_count);
    var taken = 0u;
    for (var i = 0u; i < l && taken < need; i++) {
      let key = key_of(x[xo + i]);
      if (key == prefix) {
        w_key[s] = key;
        w_idx[s] = i;
        s++;
        taken++;
      }
    }
  }
  // Bitonic sort (descending) over P = next power of two ≥ k, padding at the end.
  var P = 1u;
  while (P < k) { P <<= 1u; }
  for (var i = k + lid; i < P; i += WG) {
    w_key[i] = 0u;
    w_idx[i] = 0xffffffffu;
  }
  workgroupBarrier();
  for (var size = 2u; size <= P; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (var t = lid; t < (P >> 1u); t += WG) {
        let i = 2u * stride * (t / stride) + (t % stride);
        let j = i + stride;
        let ka = w_key[i];
        let ia = w_idx[i];
        let kb = w_key[j];
        let ib = w_idx[j];
        let desc = (i & size) == 0u;
        if (better(kb, ib, ka, ia) == desc) {
          w_key[i] = kb;
          w_idx[i] = ib;
          w_key[j] = ka;
          w_idx[j] = ia;
        }
      }
      workgroupBarrier();
    }
  }
  let kk = active_k();
  for (var s = lid; s < k; s += WG) {
    let ix = w_idx[s];
    out_idx[oo + s] = ix;
    out_val[oo + s] = final_value(s, ix, x[xo + ix], kk);
  }
}
