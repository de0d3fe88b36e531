/**
 * scripts/gpu-check.sh in its reduced mode (what CI can run: SwiftShader, shortened): kernel tests
 * on the adapter Dawn finds, then the bench, writing gpu-<adapter>.json with latest.json's row
 * shape. The full mode needs a real GPU (see the script's header and README).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../src/bench/types';

describe('scripts/gpu-check.sh', () => {
  it('reduced mode: kernel tests pass on this adapter and the bench writes gpu-<adapter>.json (rows like latest.json, 1 submit / 0 readbacks per step)', () => {
    const out = mkdtempSync(join(tmpdir(), 'gpu-check-'));
    const r = spawnSync('bash', ['scripts/gpu-check.sh', '--reduced', '--out', out], { encoding: 'utf8', timeout: 420_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const files = readdirSync(out).filter((f) => f.startsWith('gpu-') && f.endsWith('.json'));
    expect(files.length).toBe(1);
    const res = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as BenchResult;
    expect(files[0]).toMatch(/^gpu-[a-z0-9-]+\.json$/);
    expect(res.adapter.description.length + res.adapter.vendor.length).toBeGreaterThan(0);
    expect(res.note).toMatch(/kernel tests rc=0/);
    const kernels = new Set(res.rows.map((row) => row.kernel));
    expect(kernels).toEqual(new Set(['matmul.regblock', 'matmul.tiled']));
    for (const row of res.rows) {
      expect(row.ms).toBeGreaterThan(0);
      expect(row.gflops).toBeGreaterThan(0);
      expect(typeof row.shape).toBe('string');
    }
    expect(res.trainStep.length).toBe(1);
    expect(res.trainStep[0]).toMatchObject({ submits: 1, readbacks: 0 });
    expect(readFileSync(join(out, files[0]!.replace(/\.json$/, '.md')), 'utf8')).toMatch(/\| matmul\.regblock \| 64×64×64 \|/);
  }, 450_000);

  it('rejects an unknown option with exit 2 and names the options', () => {
    const r = spawnSync('bash', ['scripts/gpu-check.sh', '--bogus'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'.*--reduced/);
  });
});
