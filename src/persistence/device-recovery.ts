/**
 * Device loss: a GPUDevice can go away at any time (driver reset, another tab, a laptop switching
 * GPUs, `device.destroy()`). Everything built on it — buffers, pipelines, the task, the trainer —
 * is gone with it; what survives is on the CPU side: the last autosave (session-file bytes).
 *
 * DeviceWatch tells a real loss from our own teardown (`release()`), and `recoverSession`
 * does the rest: acquire a new device, build a fresh runtime, rebuild the model from the
 * session's config, restore parameters, moments and step from the session, and hand the new
 * pieces back so training continues from that step.
 */
import type { GpuContext } from '../engine/gpu';
import type { ParamPack } from '../engine/param-pack';
import { GpuRuntime } from '../engine/runtime';
import { checkpointFromSession, decodeSession, type Session } from '../io/session-file';
import { checkPlaygroundConfig } from './session-checkpoint';
import type { Trainer } from '../train/trainer';
import type { MetricPoint, SessionInfo, ValidationPoint } from '../playground/types';

/** Event (the worker emits it): after a device loss a new device was acquired and the last autosave restored. */
export interface DeviceRecoveredEvent {
  type: 'device-recovered';
  session: SessionInfo;
  history: { train: MetricPoint[]; validation: ValidationPoint[] };
  /** Whether training was resumed (it was playing when the device was lost). */
  playing: boolean;
}

export interface DeviceLoss {
  reason: string;
  message: string;
}

export class DeviceWatch {
  private intentional = false;
  /** Resolves when the device is lost for any reason other than `release()`; never rejects. */
  readonly lost: Promise<DeviceLoss>;
  private lostInfo: DeviceLoss | null = null;

  constructor(readonly ctx: GpuContext) {
    this.lost = new Promise((resolve) => {
      void ctx.device.lost.then((info) => {
        if (this.intentional) return;
        this.lostInfo = { reason: String(info.reason ?? 'unknown'), message: info.message || 'the GPU device was lost' };
        resolve(this.lostInfo);
      });
    });
  }

  /** Whether the device has been lost (not released on purpose). */
  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /** Destroys the device on purpose (closing a session): no recovery follows. */
  release(): void {
    this.intentional = true;
    this.ctx.device.destroy();
  }
}

export interface Rebuilt<T> {
  rt: GpuRuntime;
  watch: DeviceWatch;
  /** Whatever `build` returned (task, trainer …), restored to the session's state. */
  built: T;
  session: Session;
}

/**
 * Acquires a new device and restores `autosave` (session-file bytes) into a freshly built model.
 * `build` builds from the session (its config) on the new runtime and returns the trainer whose
 * packs receive the state. Throws SessionFileError if the autosave is unreadable or no longer
 * fits (it never is when the same code wrote it), or GpuUnavailableError if no device comes back.
 */
export async function recoverSession<T extends { trainer: Trainer; packs: readonly ParamPack[] }>(
  acquire: () => Promise<GpuContext>,
  autosave: Uint8Array,
  build: (rt: GpuRuntime, session: Session) => Promise<T> | T,
): Promise<Rebuilt<T>> {
  const session = decodeSession(autosave, checkPlaygroundConfig);
  const ctx = await acquire();
  const rt = new GpuRuntime(ctx);
  const watch = new DeviceWatch(ctx);
  const built = await build(rt, session);
  built.trainer.restore(checkpointFromSession(session, built.packs));
  return { rt, watch, built, session };
}
