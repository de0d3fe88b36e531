/**
 * "Benchmark this GPU": runs the benchmark (src/bench/run-bench.ts) in the engine worker on the
 * visitor's adapter and shows ms and GFLOP/s per kernel row and ms per train step, with the
 * adapter's name, a progress bar, Cancel, and a button that copies the JSON (the same shape as
 * bench/results/latest.json). Self-contained: App shows it instead of the playground when the
 * header's "Benchmark this GPU" tab is selected.
 */
import { useEffect, useRef, useState } from 'react';
import type { BenchPreset, BenchResult, BenchRow, TrainStepRow } from '../../worker/protocol';
import { WorkerError } from '../../worker/client';
import { engineClient } from '../engine-connection';
import { usePlayground } from '../store';

type Phase = { kind: 'idle' } | { kind: 'running'; done: number; total: number; label: string } | { kind: 'done' } | { kind: 'cancelled' } | { kind: 'error'; message: string; advice: string };

const PRESETS: { id: BenchPreset; label: string }[] = [
  { id: 'smoke', label: 'Smoke (seconds: two matmuls, one small train step)' },
  { id: 'quick', label: 'Quick (every kernel and train step, fewer repetitions)' },
  { id: 'full', label: 'Full (as npm run bench, minutes on a software adapter)' },
];

const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d));

export function BenchmarkPage() {
  const engine = usePlayground((s) => s.engine);
  const [preset, setPreset] = useState<BenchPreset>('quick');
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [rows, setRows] = useState<BenchRow[]>([]);
  const [steps, setSteps] = useState<TrainStepRow[]>([]);
  const [result, setResult] = useState<BenchResult | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const running = phase.kind === 'running';
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    const off = engineClient().onEvent((e) => {
      if (!mounted.current) return;
      if (e.type === 'bench-progress') setPhase({ kind: 'running', done: e.done, total: e.total, label: e.label });
      else if (e.type === 'bench-row') {
        if (e.kind === 'kernel') setRows((r) => [...r, e.row]);
        else setSteps((s) => [...s, e.row]);
      }
    });
    return () => {
      mounted.current = false;
      off();
    };
  }, []);

  async function run() {
    setRows([]);
    setSteps([]);
    setResult(null);
    setCopied(null);
    setPhase({ kind: 'running', done: 0, total: 1, label: 'starting' });
    try {
      const r = await engineClient().request({ type: 'bench', preset });
      if (!mounted.current) return;
      setResult(r);
      setRows(r.rows);
      setSteps(r.trainStep);
      setPhase({ kind: 'done' });
    } catch (e) {
      if (!mounted.current) return;
      if (e instanceof WorkerError && e.code === 'cancelled') setPhase({ kind: 'cancelled' });
      else setPhase({ kind: 'error', message: e instanceof Error ? e.message : String(e), advice: e instanceof WorkerError ? e.advice : '' });
    }
  }

  async function copy() {
    if (!result) return;
    const json = JSON.stringify(result, null, 2);
    try {
      await navigator.clipboard.writeText(json);
      setCopied('Copied the JSON to the clipboard.');
    } catch {
      setCopied('The clipboard is not available here: select the JSON below and copy it.');
    }
  }

  const adapter = engine.phase === 'ready' ? engine.adapter : null;
  return (
    <section className="panel benchmark" data-testid="bench-page" aria-labelledby="bench-title">
      <h2 id="bench-title">Benchmark this GPU</h2>
      <p data-testid="bench-adapter">
        Adapter: {adapter ? `${adapter.vendor || '?'} · ${adapter.architecture || '?'} · ${adapter.description || '?'}` : `not ready (engine ${engine.phase})`}
      </p>
      <p className="note">
        The same kernels and training steps as <code>npm run bench</code> (the repository's bench/results/latest.json has the same rows), timed in the engine worker on this adapter. Compare
        only rows of one run; a software adapter (SwiftShader) is 100–1000× slower than a real GPU.
      </p>
      <div className="choices" role="radiogroup" aria-label="Benchmark size">
        {PRESETS.map((p) => (
          <label key={p.id} className={`choice${preset === p.id ? ' selected' : ''}`}>
            <input type="radio" name="bench-preset" value={p.id} checked={preset === p.id} disabled={running} onChange={() => setPreset(p.id)} data-testid={`bench-preset-${p.id}`} />
            {p.label}
          </label>
        ))}
      </div>
      <p>
        <button type="button" onClick={() => void run()} disabled={running || !adapter} data-testid="bench-run">
          Run benchmark
        </button>{' '}
        <button type="button" onClick={() => void engineClient().request({ type: 'bench-cancel' })} disabled={!running} data-testid="bench-cancel">
          Cancel
        </button>{' '}
        <button type="button" onClick={() => void copy()} disabled={!result} data-testid="bench-copy">
          Copy JSON
        </button>
      </p>
      <div data-testid="bench-status" data-phase={phase.kind} aria-live="polite">
        {phase.kind === 'running' && (
          <>
            <progress max={Math.max(1, phase.total)} value={phase.done} data-testid="bench-progress" /> {phase.done} / {phase.total} · {phase.label}
          </>
        )}
        {phase.kind === 'done' && <span>Done: {rows.length} kernel rows, {steps.length} train steps.</span>}
        {phase.kind === 'cancelled' && <span>Cancelled. The rows measured so far are below.</span>}
        {phase.kind === 'error' && (
          <span role="alert">
            {phase.message} {phase.advice}
          </span>
        )}
        {copied && <span data-testid="bench-copied"> {copied}</span>}
      </div>
      {rows.length > 0 && (
        <table data-testid="bench-kernels">
          <thead>
            <tr>
              <th>kernel</th>
              <th>shape</th>
              <th>ms</th>
              <th>GFLOP/s</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td>{r.kernel}</td>
                <td>{r.shape}</td>
                <td>{fmt(r.ms, 3)}</td>
                <td>{fmt(r.gflops)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {steps.length > 0 && (
        <table data-testid="bench-steps">
          <thead>
            <tr>
              <th>train step</th>
              <th>ms</th>
              <th>dispatches</th>
              <th>submits</th>
              <th>readbacks</th>
            </tr>
          </thead>
          <tbody>
            {steps.map((t, i) => (
              <tr key={i}>
                <td>{t.model}</td>
                <td>{fmt(t.ms)}</td>
                <td>{t.dispatches}</td>
                <td>{t.submits}</td>
                <td>{t.readbacks}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {result && (
        <details>
          <summary>JSON (same shape as bench/results/latest.json)</summary>
          <textarea readOnly rows={12} cols={80} value={JSON.stringify(result, null, 2)} data-testid="bench-json" />
        </details>
      )}
    </section>
  );
}
