import { useEffect } from 'react';
import { AdapterPanel } from './components/AdapterPanel';
import { DemoPanel } from './components/DemoPanel';
import { GpuErrorPanel } from './components/GpuErrorPanel';
import { connectEngine } from './engine-connection';
import { usePlayground } from './store';

export function App() {
  const engine = usePlayground((s) => s.engine);

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
      <main>
        {(engine.phase === 'idle' || engine.phase === 'starting') && <p aria-busy="true">Starting the engine worker and acquiring the GPU…</p>}
        {engine.phase === 'ready' && (
          <>
            <AdapterPanel adapter={engine.adapter} limits={engine.limits} features={engine.features} />
            <DemoPanel />
          </>
        )}
        {engine.phase === 'error' && (
          <GpuErrorPanel
            code={engine.code}
            message={engine.message}
            advice={engine.advice}
            secureContext={window.isSecureContext}
            onRetry={() => void connectEngine()}
          />
        )}
      </main>
    </div>
  );
}
