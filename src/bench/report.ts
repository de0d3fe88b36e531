/**
 * A benchmark result as markdown (bench/results/*.md) and the goals of issue 11 checked against
 * it. Shared by the Node bench and the page (which copies the same JSON).
 */
import type { BenchResult, BenchRow, TrainStepRow } from './types';

export interface BenchGoal {
  id: string;
  claim: string;
  measured: string;
  goal: string;
  /** null: not measurable in this run (a peer or row missing). */
  pass: boolean | null;
}

function peerNames(rows: { peers?: Record<string, unknown> }[]): string[] {
  const names: string[] = [];
  for (const r of rows) for (const n of Object.keys(r.peers ?? {})) if (!names.includes(n)) names.push(n);
  return names;
}

const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '');

export function benchMarkdown(res: BenchResult): string {
  const kp = peerNames(res.rows);
  const sp = peerNames(res.trainStep);
  const lines = [
    `# Benchmark — ${res.adapter.vendor} ${res.adapter.architecture} (${res.adapter.description})`,
    '',
    `${res.date} · ${res.runtime}${res.quick ? ' · quick' : ''}`,
    '',
    ...(res.note ? [res.note, ''] : []),
    `| kernel | shape | ms | GFLOP/s | ${kp.map((n) => `${n} ms | × vs ${n}`).join(' | ')}${kp.length ? ' |' : ''}`,
    `|---|---|---:|---:|${kp.map(() => '---:|---:|').join('')}`,
    ...res.rows.map((r) => `| ${r.kernel} | ${r.shape} | ${f(r.ms, 3)} | ${r.gflops !== undefined ? f(r.gflops) : ''} | ${kp.map((n) => (r.peers?.[n] ? `${f(r.peers[n]!.ms, 1)} | ${f(r.peers[n]!.ratio)}` : ' | ')).join(' | ')}${kp.length ? ' |' : ''}`),
    '',
    `| train step | ms | dispatches | submits | readbacks | metric maps / step | ${sp.map((n) => `${n} ms | × vs ${n}`).join(' | ')}${sp.length ? ' |' : ''}`,
    `|---|---:|---:|---:|---:|---:|${sp.map(() => '---:|---:|').join('')}`,
    ...res.trainStep.map((t) => `| ${t.model} | ${f(t.ms)} | ${t.dispatches} | ${t.submits} | ${t.readbacks} | ${f(t.metricReadbacksPerStep)} | ${sp.map((n) => (t.peers?.[n] ? `${f(t.peers[n]!.ms, 0)} | ${f(t.peers[n]!.ratio)}` : ' | ')).join(' | ')}${sp.length ? ' |' : ''}`),
    '',
  ];
  const goals = (res.goals as BenchGoal[] | undefined) ?? benchGoals(res);
  if (goals.length) {
    lines.push('## Goals (issue 11)', '', '| goal | claim | measured | target | met |', '|---|---|---|---|---|');
    for (const g of goals) lines.push(`| ${g.id} | ${g.claim} | ${g.measured} | ${g.goal} | ${g.pass === null ? 'n/a' : g.pass ? 'yes' : '**no**'} |`);
    lines.push('');
  }
  const profiles = (res.profiles as string[] | undefined) ?? [];
  if (profiles.length) lines.push('## Per-op profiles (bench/profile-step.ts)', '');
  for (const extra of profiles) lines.push(extra, '');
  return lines.join('\n');
}

function bestPeer(r: { peers?: Record<string, { ms: number; ratio: number }> }, prefix: string): { name: string; ms: number; ratio: number } | null {
  let best: { name: string; ms: number; ratio: number } | null = null;
  for (const [name, p] of Object.entries(r.peers ?? {})) if (name.startsWith(prefix) && (!best || p.ms < best.ms)) best = { name, ...p };
  return best;
}

const stepById = (res: BenchResult, id: string): TrainStepRow | undefined => res.trainStep.find((t) => t.id === id);

/** Attention FLOPs of forward (scores + P·V) for b, s, h, d(model). */
function attentionFlops(shape: string): number | null {
  const m = /^b(\d+) s(\d+) h(\d+) d(\d+)$/.exec(shape);
  if (!m) return null;
  const [b, s, h, d] = m.slice(1).map(Number) as [number, number, number, number];
  void h;
  return 4 * b * s * s * d; // Σ_heads 4·s²·(d/h) = 4·s²·d per sequence
}

export function benchGoals(res: BenchResult): BenchGoal[] {
  const goals: BenchGoal[] = [];
  const swift = `${res.adapter.vendor} ${res.adapter.description}`.toLowerCase().includes('swiftshader');
  for (const id of ['fourier-atoms', 'stan-linear']) {
    const row = stepById(res, id);
    const jax = row ? bestPeer(row, 'jax-js') : null;
    goals.push({ id: `step-vs-jax:${id}`, claim: `${id} train step vs jax-js's faster variant`, measured: row && jax ? `${f(row.ms, 0)} ms vs ${f(jax.ms, 0)} ms (${jax.name}) → ×${f(jax.ratio)}` : 'not measured', goal: '≥ ×2', pass: row && jax ? jax.ratio >= 2 : null });
    const tf = row ? bestPeer(row, 'TF.js') : null;
    goals.push({ id: `step-vs-tfjs:${id}`, claim: `${id} train step vs TF.js's faster variant`, measured: row && tf ? `${f(row.ms, 0)} ms vs ${f(tf.ms, 0)} ms (${tf.name}) → ×${f(tf.ratio)}` : 'not measured', goal: '≥ ×4', pass: row && tf ? tf.ratio >= 4 : null });
  }
  const variant = swift ? 'matmul.regblock' : 'matmul.tiled';
  for (const shape of ['2048×128×128', '512×512×512']) {
    const row = res.rows.find((r) => r.kernel === variant && r.shape === shape);
    const jax = row?.peers?.['jax-js matmul'];
    goals.push({ id: `matmul-vs-jax:${shape}`, claim: `${variant} (the adapter's 'auto' variant) vs jax-js matmul`, measured: row && jax ? `${f(row.ms, 1)} ms vs ${f(jax.ms, 1)} ms → ×${f(jax.ratio)}` : 'not measured', goal: '≥ ×1.5', pass: row && jax ? jax.ratio >= 1.5 : null });
  }
  const topk = res.rows.filter((r) => r.kernel === 'topk' && /k=(\d+)/.test(r.shape) && Number(/k=(\d+)/.exec(r.shape)![1]) >= 8 && r.ratio !== undefined);
  const worst = topk.reduce<BenchRow | null>((a, r) => (!a || r.ratio! < a.ratio! ? r : a), null);
  goals.push({ id: 'topk-vs-tfjs', claim: 'top-k at k ≥ 8 vs tf.topk (worst shape)', measured: worst ? `×${f(worst.ratio!)} at ${worst.shape}` : 'not measured', goal: '≥ ×20', pass: worst ? worst.ratio! >= 20 : null });
  const bad = res.trainStep.filter((t) => t.submits !== 1 || t.readbacks !== 0);
  goals.push({ id: 'one-submit', claim: 'every train step: 1 submit, 0 readbacks', measured: res.trainStep.length ? (bad.length ? `violated by ${bad.map((t) => t.model).join(', ')}` : `${res.trainStep.length} steps, all 1 / 0`) : 'not measured', goal: '1 / 0', pass: res.trainStep.length ? bad.length === 0 : null });
  const att = (shape: string) => {
    const fw = res.rows.find((r) => r.kernel === 'attention.fwd' && r.shape === shape);
    const bw = res.rows.find((r) => r.kernel === 'attention.bwd' && r.shape === shape);
    const fl = attentionFlops(shape);
    return fw && bw && fl ? (fw.ms + bw.ms) / (3 * fl) : null; // backward ≈ 2× forward FLOPs
  };
  const h1 = att('b32 s64 h1 d128');
  const h4 = att('b64 s64 h4 d128');
  goals.push({ id: 'mha-per-flop', claim: 'attention fwd+bwd cost per FLOP, h4 (b64 s64 d128) vs h1 (b32 s64 d128)', measured: h1 && h4 ? `×${f(h4 / h1)}` : 'not measured', goal: '≤ ×1.5', pass: h1 && h4 ? h4 / h1 <= 1.5 : null });
  for (const id of ['regression-medium', 'mnist-vae-finetune']) {
    const now = stepById(res, id);
    const before = stepById(res, `${id}@rows`);
    goals.push({ id: `mha-speedup:${id}`, claim: `${id} step, batched multi-head attention vs the per-row kernels (same run)`, measured: now && before ? `${f(now.ms, 0)} ms vs ${f(before.ms, 0)} ms → ×${f(before.ms / now.ms)}` : 'not measured', goal: '≥ ×2', pass: now && before ? before.ms / now.ms >= 2 : null });
  }
  return goals;
}
