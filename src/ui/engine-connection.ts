/**
 * The one engine worker of the page, and the actions that talk to it. Replies land in the
 * store; components read the store and call these actions.
 */
import { EngineClient, WorkerError } from '../worker/client';
import { usePlayground } from './store';

let client: EngineClient | null = null;

export function engineClient(): EngineClient {
  if (!client) {
    client = EngineClient.start();
    client.onEvent((event) => {
      switch (event.type) {
        case 'device-lost':
          usePlayground.getState().setEngine({
            phase: 'error',
            code: 'device-lost',
            message: `The GPU device was lost (${event.reason}): ${event.message || 'no details'}.`,
            advice: 'Press "Retry" to acquire the GPU again; reload the page if that fails.',
          });
          break;
        case 'metrics': {
          const { demo, setDemo } = usePlayground.getState();
          setDemo({ points: [...demo.points, ...event.rows.map((r) => ({ step: r.step, loss: r.loss }))], msPerStep: event.msPerStep });
          break;
        }
        case 'training-stopped':
          usePlayground.getState().setDemo({ status: 'stopped', stopReason: event.reason + (event.message ? `: ${event.message}` : '') });
          break;
      }
    });
  }
  return client;
}

/** Starts (or restarts) the engine: acquires the GPU in the worker. */
export async function connectEngine(): Promise<void> {
  const { powerPreference, setEngine } = usePlayground.getState();
  setEngine({ phase: 'starting' });
  try {
    const reply = await engineClient().request({ type: 'init', powerPreference });
    setEngine({ phase: 'ready', adapter: reply.adapter, limits: reply.limits, features: reply.features });
  } catch (e) {
    if (e instanceof WorkerError) setEngine({ phase: 'error', code: e.code, message: e.message, advice: e.advice });
    else setEngine({ phase: 'error', code: 'internal', message: String(e), advice: 'Reload the page.' });
  }
}

/** Trains the demo model from scratch; loss points stream into the store. */
export async function startDemoTraining(steps = 300, lr = 3e-3, seed = 1): Promise<void> {
  const { setDemo } = usePlayground.getState();
  setDemo({ status: 'training', points: [], msPerStep: null, stopReason: undefined });
  try {
    const reply = await engineClient().request({ type: 'demo-train', steps, lr, seed });
    setDemo({ parameters: reply.parameters });
  } catch (e) {
    setDemo({ status: 'stopped', stopReason: `error: ${e instanceof Error ? e.message : String(e)}` });
  }
}

export async function pauseTraining(): Promise<void> {
  await engineClient().request({ type: 'pause' });
}
