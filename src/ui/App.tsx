import { useEffect, useState } from 'react';
import { AdapterPanel } from './components/AdapterPanel';
import { BenchmarkPage } from './components/BenchmarkPage';
import { AdapterConfigPanel, ExplainPanel, TaskPanel, UrlIssuesBanner } from './components/ConfigPanels';
import { GpuErrorPanel } from './components/GpuErrorPanel';
import { PersistencePanel } from './components/PersistencePanel';
import { IdentifiabilityPanel, LatentViewPanel, ScatterPanel } from './components/InspectPanels';
import { BaseModelPanel, LossPanel, SessionIoSlot, TrainingPanel, TrainingSettingsPanel } from './components/SessionPanels';
import { TaskViewPanel } from './components/TaskViewPanel';
import { SiteMetricsPanel } from './components/SiteMetricsPanel';
import { LatentTablePanel } from './components/LatentTable';
import { OwnInputPanel } from './components/OwnInputPanel';
import { connectEngine } from './engine-connection';
import { FIRST_VISIT_STEPS } from './guide';
import { useFreshness, usePlayground } from './store';
import { startUrlSync } from './url-sync';

/**
 * The page. The playground's first screen (1366×768 and up) holds what a first visit needs: the
 * guide, the task, the training controls with Play, and the outputs view; the loss chart follows
 * the controls, the settings and inspection panels come after. "Benchmark this GPU" is a second
 * page in the header.
 */
export function App() {
  const engine = usePlayground((s) => s.engine);
  const session = usePlayground((s) => s.session);
  const fresh = useFreshness();
  const training = session.phase === 'training';
  const [tab, setTab] = useState<'playground' | 'bench'>('playground');
  // Parameter counts belong to the session built from the settings on screen.
  const counts = fresh === 'current' ? (session.info?.parameters ?? null) : null;

  useEffect(() => startUrlSync(), []);
  useEffect(() => {
    if (usePlayground.getState().engine.phase === 'idle') void connectEngine();
  }, []);

  return (
    <div className="app">
      <header>
        <h1>Sparse Adapter Playground</h1>
        <nav className="tabs" aria-label="Pages">
          <button type="button" aria-pressed={tab === 'playground'} onClick={() => setTab('playground')} data-testid="tab-playground">
            Playground
          </button>
          <button type="button" aria-pressed={tab === 'bench'} onClick={() => setTab('bench')} data-testid="tab-bench">
            Benchmark this GPU
          </button>
        </nav>
        <p className="status" data-testid="engine-phase" data-phase={engine.phase}>
          Engine: {engine.phase}
        </p>
      </header>
      {engine.phase === 'error' && <GpuErrorPanel code={engine.code} message={engine.message} advice={engine.advice} secureContext={window.isSecureContext} onRetry={() => void connectEngine()} />}
      {/* Both stay mounted (hidden, not unmounted): the playground's charts and the benchmark's rows survive a tab switch. */}
      <div hidden={tab !== 'bench'}>
        <BenchmarkPage />
      </div>
      <div hidden={tab !== 'playground'}>
        <UrlIssuesBanner />
        <details className="first-visit" open={session.phase === 'none'} data-testid="guide">
          <summary>First time here? Four steps</summary>
          <ol>
            {FIRST_VISIT_STEPS.map((s, i) => (
              <li key={i}>{s}</li>
            ))}
          </ol>
        </details>
        <main className="layout">
          <div className="column config-column">
            <TaskPanel disabled={training} />
            <TrainingPanel />
            <LossPanel />
            <AdapterConfigPanel disabled={training} trainable={counts?.trainable ?? null} base={counts?.base ?? null} />
            <TrainingSettingsPanel />
            <BaseModelPanel />
            <SessionIoSlot>
              <PersistencePanel />
            </SessionIoSlot>
          </div>
          <div className="column view-column">
            {(engine.phase === 'idle' || engine.phase === 'starting') && <p aria-busy="true">Starting the engine worker and acquiring the GPU…</p>}
            <TaskViewPanel />
            {/* The inspection panels show a session's data: never another task's (views belong to the session that made them). */}
            {(fresh === 'current' || fresh === 'stale') && (
              <>
                <SiteMetricsPanel />
                <ScatterPanel />
                <LatentViewPanel />
                <LatentTablePanel />
                <OwnInputPanel />
                <IdentifiabilityPanel />
              </>
            )}
            <ExplainPanel />
            {engine.phase === 'ready' && <AdapterPanel adapter={engine.adapter} limits={engine.limits} features={engine.features} />}
          </div>
        </main>
      </div>
    </div>
  );
}
