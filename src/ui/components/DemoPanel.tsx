/** Train the engine's demo model (tiny transformer, synthetic regression) and watch the loss. */
import { pause, startDemoTraining } from '../engine-connection';
import { usePlayground } from '../store';
import { LossChart } from './LossChart';

export function DemoPanel() {
  const demo = usePlayground((s) => s.demo);
  const last = demo.points[demo.points.length - 1];
  return (
    <section className="panel" aria-labelledby="demo-title">
      <h2 id="demo-title">Training demo</h2>
      <p>
        A 1-block transformer (dim 32, 2 heads) learns a synthetic sequence regression, y<sub>t</sub> = tanh(x<sub>t</sub>A)B + mean(x)C. Each step —
        forward, backward and AdamW — is one GPU submit; the loss comes back asynchronously every 5 steps.
      </p>
      <div className="controls">
        <button type="button" data-testid="train-button" onClick={() => void startDemoTraining()} disabled={demo.status === 'training'}>
          {demo.status === 'idle' ? 'Train 300 steps' : 'Train again'}
        </button>
        <button type="button" data-testid="pause-button" onClick={() => void pause()} disabled={demo.status !== 'training'}>
          Pause
        </button>
      </div>
      <p className="status" data-testid="demo-status" data-status={demo.status} aria-live="polite">
        {demo.status === 'training' && `training… step ${last ? last.step + 1 : 0}`}
        {demo.status === 'stopped' && `stopped (${demo.stopReason}) at step ${last ? last.step + 1 : 0}`}
        {last && ` · loss ${last.loss.toExponential(3)}`}
        {demo.msPerStep !== null && ` · ${demo.msPerStep.toFixed(1)} ms/step`}
        {demo.parameters !== null && ` · ${demo.parameters.toLocaleString()} trainable parameters`}
      </p>
      <LossChart points={demo.points} />
    </section>
  );
}
