/** The benchmark report (src/bench/report.ts): peer ratio columns and the issue-11 goals, on hand-made results. */
import { describe, expect, it } from 'vitest';
import { benchGoals, benchMarkdown } from '../src/bench/report';
import type { BenchResult } from '../src/bench/types';

function result(): BenchResult {
  const peer = (ms: number, ours: number) => ({ ms, ratio: ms / ours });
  return {
    adapter: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' },
    date: '2026-12-04T00:00:00Z',
    runtime: 'node v20',
    quick: true,
    rows: [
      { kernel: 'matmul.regblock', shape: '2048×128×128', ms: 20, gflops: 3.4, peers: { 'TF.js tf.matMul': peer(300, 20), 'jax-js matmul': peer(40, 20) } },
      { kernel: 'matmul.tiled', shape: '2048×128×128', ms: 200, gflops: 0.3, peers: { 'TF.js tf.matMul': peer(300, 200), 'jax-js matmul': peer(40, 200) } },
      { kernel: 'matmul.regblock', shape: '512×512×512', ms: 100, gflops: 2.7, peers: { 'jax-js matmul': peer(120, 100) } },
      { kernel: 'topk', shape: 'rows=64 l=256 k=8', ms: 1, ratio: 25 },
      { kernel: 'topk', shape: 'rows=64 l=4096 k=64', ms: 20, ratio: 19 },
      { kernel: 'topk', shape: 'rows=64 l=4096 k=1', ms: 4, ratio: 2 },
      { kernel: 'attention.fwd', shape: 'b32 s64 h1 d128', ms: 50 },
      { kernel: 'attention.bwd', shape: 'b32 s64 h1 d128', ms: 100 },
      { kernel: 'attention.fwd', shape: 'b64 s64 h4 d128', ms: 110 },
      { kernel: 'attention.bwd', shape: 'b64 s64 h4 d128', ms: 220 },
    ],
    trainStep: [
      { id: 'fourier-atoms', model: 'fourier-atoms (…)', ms: 100, dispatches: 30, submits: 1, readbacks: 0, metricReadbacksPerStep: 0.1, peers: { 'jax-js (knockout)': peer(300, 100), 'jax-js (lax.topK)': peer(600, 100), 'TF.js (knockout)': peer(900, 100), 'TF.js (tf.topk)': peer(350, 100) } },
      { id: 'regression-medium', model: 'regression-medium', ms: 400, dispatches: 120, submits: 1, readbacks: 0, metricReadbacksPerStep: 0.1 },
      { id: 'regression-medium@rows', model: 'regression-medium — before', ms: 1000, dispatches: 120, submits: 2, readbacks: 0, metricReadbacksPerStep: 0.1 },
    ],
  };
}

describe('bench report', () => {
  it('checks the goals against the best peer variant, the auto matmul variant and the worst top-k ratio at k ≥ 8', () => {
    const g = Object.fromEntries(benchGoals(result()).map((x) => [x.id, x]));
    expect(g['step-vs-jax:fourier-atoms']).toMatchObject({ pass: true }); // 300 / 100 = ×3 vs the faster jax variant
    expect(g['step-vs-jax:fourier-atoms']!.measured).toContain('jax-js (knockout)');
    expect(g['step-vs-tfjs:fourier-atoms']).toMatchObject({ pass: false }); // 350 / 100 = ×3.5 < 4
    expect(g['step-vs-jax:stan-linear']!.pass).toBeNull();
    expect(g['matmul-vs-jax:2048×128×128']).toMatchObject({ pass: true }); // regblock on SwiftShader: ×2
    expect(g['matmul-vs-jax:512×512×512']).toMatchObject({ pass: false }); // ×1.2
    expect(g['topk-vs-tfjs']).toMatchObject({ pass: false });
    expect(g['topk-vs-tfjs']!.measured).toContain('k=64');
    expect(g['one-submit']).toMatchObject({ pass: false });
    // Per FLOP: h1 (150 ms / 4·32·64²·128) vs h4 (330 ms / 4·64·64²·128) = ×1.1.
    expect(g['mha-per-flop']).toMatchObject({ pass: true, measured: '×1.10' });
    expect(g['mha-speedup:regression-medium']).toMatchObject({ pass: true, measured: '400 ms vs 1000 ms → ×2.50' });
    expect(g['mha-speedup:mnist-vae-finetune']!.pass).toBeNull();
  });

  it('writes one ms and one ratio column per peer, and the goals table', () => {
    const md = benchMarkdown(result());
    expect(md).toContain('| kernel | shape | ms | GFLOP/s | TF.js tf.matMul ms | × vs TF.js tf.matMul | jax-js matmul ms | × vs jax-js matmul |');
    expect(md).toContain('| matmul.regblock | 2048×128×128 | 20.000 | 3.40 | 300.0 | 15.00 | 40.0 | 2.00 |');
    expect(md).toMatch(/\| fourier-atoms \(…\) \| 100\.00 \| 30 \| 1 \| 0 \| 0\.10 \| 300 \| 3\.00 \| 600 \| 6\.00 \| 900 \| 9\.00 \| 350 \| 3\.50 \|/);
    expect(md).toContain('| one-submit |');
  });
});
