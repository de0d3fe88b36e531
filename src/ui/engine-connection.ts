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
      }
    });
  }
  return client;
}

/** Starts (or restarts) the engine: acquires the GPU in the worker. */
export async function connectEngine(): Promise<void> {
  const { config, setEngine } = usePlayground.getState();
  setEngine({ phase: 'starting' });
  try {
    const reply = await engineClient().request({ type: 'init', powerPreference: config.powerPreference });
    setEngine({ phase: 'ready', adapter: reply.adapter, limits: reply.limits, features: reply.features });
  } catch (e) {
    if (e instanceof WorkerError) setEngine({ phase: 'error', code: e.code, message: e.message, advice: e.advice });
    else setEngine({ phase: 'error', code: 'internal', message: String(e), advice: 'Reload the page.' });
  }
}
