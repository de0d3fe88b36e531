/**
 * Training controls (play / pause / step / reset with the same seed), the session's status and
 * errors, the base model, and the runs chart.
 */
import { cancelPreparation, configureSession, pause, play, reset, sessionIsCurrent, step } from '../engine-connection';
import { usePlayground } from '../store';
import { TrainingFields } from './ConfigPanels';
import { RunsChart } from './RunsChart';

export function TrainingPanel() {
  const session = usePlayground((s) => s.session);
  const configIssues = usePlayground((s) => s.configIssues);
  const config = usePlayground((s) => s.config);
  const engineReady = usePlayground((s) => s.engine.phase === 'ready');
  const busy = session.phase === 'configuring' || session.phase === 'stepping';
  const training = session.phase === 'training';
  // Re-evaluated on every render: the store changes whenever config or session do.
  void config;
  const stale = session.builtFrom !== null && !sessionIsCurrent();
  const invalid = configIssues.length > 0;
  return (
    <section className="panel" aria-labelledby="training-heading" data-testid="training-panel">
      <h2 id="training-heading">Training</h2>
      <div className="controls" role="toolbar" aria-label="training controls">
        {training ? (
          <button type="button" onClick={() => void pause()} data-testid="pause-session">
            ⏸ Pause
          </button>
        ) : (
          <button type="button" onClick={() => void play()} disabled={!engineReady || busy || invalid} data-testid="play">
            ▶ Play
          </button>
        )}
        <button type="button" onClick={() => void step(1)} disabled={!engineReady || busy || training || invalid} data-testid="step">
          Step
        </button>
        <button type="button" onClick={() => void step(10)} disabled={!engineReady || busy || training || invalid} data-testid="step-10">
          +10
        </button>
        <button type="button" onClick={() => void reset()} disabled={!engineReady || busy || training || invalid} data-testid="reset" title="rebuild the model and adapter with the same seed: the next run repeats this one">
          ↺ Reset
        </button>
        <span className="status" data-testid="session-status" data-phase={session.phase} data-step={session.step} aria-live="polite">
          {session.phase === 'none' && 'not built yet — Play builds the task, loads the base and attaches the adapter'}
          {session.phase === 'configuring' && 'building the session…'}
          {session.phase !== 'none' && session.phase !== 'configuring' && `step ${session.step}`}
          {training && ' · training'}
          {session.phase === 'stepping' && ' · stepping'}
          {session.msPerStep !== null && (training || session.phase === 'ready') && ` · ${session.msPerStep.toFixed(1)} ms/step`}
        </span>
      </div>
      {session.progress && (
        <div className="progress" data-testid="progress">
          <label>
            {session.progress.label}: {session.progress.done} / {session.progress.total}
            <progress max={session.progress.total} value={session.progress.done} />
          </label>
          <button type="button" onClick={() => void cancelPreparation()} data-testid="cancel">
            Cancel
          </button>
        </div>
      )}
      {stale && !training && (
        <p className="note" data-testid="stale-note">
          The settings changed since this session was built: Play, Step or Reset starts a new run with them (the old curve stays for comparison).
        </p>
      )}
      {invalid && <p className="field-error">Fix the highlighted settings to train: {configIssues.map((i) => i.field).join(', ')}.</p>}
      {session.message && (
        <div className={session.errorCode ? 'session-error' : 'note'} role={session.errorCode ? 'alert' : undefined} data-testid="session-message" data-code={session.errorCode ?? ''}>
          <p>
            {session.errorField && (
              <>
                <code>{session.errorField}</code>:{' '}
              </>
            )}
            {session.message}
          </p>
          {session.advice && <p>{session.advice}</p>}
          {session.errorCode === 'limits-too-small' && <p>Lower the adapter size (expansion, atoms M, rank) or the batch, then press Play again.</p>}
          {session.errorCode && session.phase === 'error' && (
            <button type="button" onClick={() => void configureSession()}>
              Try again
            </button>
          )}
        </div>
      )}
      <TrainingFields disabled={training} />
    </section>
  );
}

export function LossPanel() {
  const runs = usePlayground((s) => s.runs);
  const liveRunId = usePlayground((s) => s.liveRunId);
  const clearRuns = usePlayground((s) => s.clearRuns);
  return (
    <section className="panel" aria-labelledby="loss-heading">
      <h2 id="loss-heading" className="visually-hidden">
        Loss curves
      </h2>
      <RunsChart runs={runs} liveRunId={liveRunId} onClear={clearRuns} />
    </section>
  );
}

export function BaseModelPanel() {
  const info = usePlayground((s) => s.session.info);
  const pick = ['steps', 'test', 'train_final', 'parameters', 'seconds'];
  return (
    <section className="panel" aria-labelledby="base-heading" data-testid="base-panel">
      <h2 id="base-heading">Base model</h2>
      {!info && <p className="note">The frozen base is loaded from the task's shipped checkpoint when the session is built.</p>}
      {info && (
        <>
          <p>
            {info.base ? (
              <>
                Frozen base from <code data-testid="base-source">{info.base.source}</code>
              </>
            ) : info.task.baseCheckpoint === null ? (
              'This task builds its base in the page (no checkpoint to load).'
            ) : (
              'No base checkpoint was loaded.'
            )}{' '}
            · {info.parameters.base.toLocaleString('en-US')} parameters, {info.dispatchesPerStep} GPU dispatches per step.
          </p>
          {info.base && (
            <dl className="facts small">
              {pick
                .filter((k) => info.base!.metadata[k] !== undefined)
                .map((k) => (
                  <div key={k} className="fact">
                    <dt>{k}</dt>
                    <dd>{info.base!.metadata[k]!.length > 160 ? `${info.base!.metadata[k]!.slice(0, 160)}…` : info.base!.metadata[k]}</dd>
                  </div>
                ))}
            </dl>
          )}
        </>
      )}
    </section>
  );
}

/**
 * Save / resume, export / import: the persistence layer (src/io) mounts its controls here
 * (autosave status, resume offer, adapter/session export and import).
 */
export function SessionIoSlot({ children }: { children?: React.ReactNode }) {
  if (!children) return null;
  return (
    <section className="panel" aria-labelledby="io-heading" data-testid="session-io">
      <h2 id="io-heading">Save, resume, export</h2>
      {children}
    </section>
  );
}
