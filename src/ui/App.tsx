import { useEffect } from 'react';
import { AdapterPanel } from './components/AdapterPanel';
import { AdapterConfigPanel, ExplainPanel, TaskPanel, TrainingFields, UrlIssuesBanner } from './components/ConfigPanels';
import { DemoPanel } from './components/DemoPanel';
import { GpuErrorPanel } from './components/GpuErrorPanel';
import { connectEngine } from './engine-connection';
import { FIRST_VISIT_STEPS } from './explanations';
import { usePlayground } from './store';
import { startUrlSync } from './url-sync';

export function App() {
  const engine = usePlayground((s) => s.engine);
  const session = usePlayground((s) => s.session);

  useEffect(() => startUrlSync(), []);
  useEffect(() => {
    if (usePlayground.getState().engine.phase === 'idle') void connectEngine();
  }, []);

  return (
    <div className="app">
      <header>
        <h1>Sparse Adapter Playground</h1>
        <p className="status" data-testid="engine-phase" data-phase={engine.phase}>
          Engine: {engine.phase}
        </p>
      </header>
      <UrlIssuesBanner />
      <details className="first-visit" open>
        <summary>First time here?</summary>
        <ol>
          {FIRST_VISIT_STEPS.map((s, i) => (
            <li key={i}>{s}</li>
          ))}
        </ol>
      </details>
      <main className="layout">
        <div className="column config-column">
          <TaskPanel />
          <AdapterConfigPanel trainable={session.trainableParameters} base={session.baseParameters} />
          <section className="panel" aria-labelledby="training-heading">
            <h2 id="training-heading">Training</h2>
            <TrainingFields />
          </section>
        </div>
        <div className="column view-column">
          {(engine.phase === 'idle' || engine.phase === 'starting') && <p aria-busy="true">Starting the engine worker and acquiring the GPU…</p>}
          {engine.phase === 'ready' && <DemoPanel />}
          {engine.phase === 'error' && (
            <GpuErrorPanel code={engine.code} message={engine.message} advice={engine.advice} secureContext={window.isSecureContext} onRetry={() => void connectEngine()} />
          )}
          <ExplainPanel />
          {engine.phase === 'ready' && <AdapterPanel adapter={engine.adapter} limits={engine.limits} features={engine.features} />}
        </div>
      </main>
    </div>
  );
}
