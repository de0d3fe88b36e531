/**
 * A frozen digit classifier loaded from its checkpoint — the MLP (digit-classifier.ts) or the
 * CNN (digit-cnn.ts), whichever the file's `model` metadata names — that judges decoded images.
 * The 8 → 3 experiment and the page run both judges and report both verdicts.
 */
import { ParamPack } from '../engine/param-pack';
import { Rng } from '../engine/rng';
import type { GpuRuntime } from '../engine/runtime';
import { baseCheckpointMetadata } from '../io/base-checkpoint';
import { CLASSIFIER_CHECKPOINT_MODEL, classifierConfigFromMetadata, DigitClassifier, DigitClassifierRunner, loadClassifierCheckpoint, type ClassifierModel } from './digit-classifier';
import { CNN_CHECKPOINT_MODEL, cnnConfigFromMetadata, DigitCnn, loadCnnCheckpoint } from './digit-cnn';

export class DigitJudge {
  readonly runner: DigitClassifierRunner;
  readonly metadata: Record<string, string>;
  /** 'mlp' or 'cnn'. */
  readonly kind: 'mlp' | 'cnn';
  private readonly frozen: ParamPack;

  constructor(rt: GpuRuntime, checkpoint: Uint8Array, batch = 64) {
    const meta = baseCheckpointMetadata(checkpoint);
    this.frozen = new ParamPack(rt, 'judge.frozen', false);
    const ctx = { rt, trainable: new ParamPack(rt, 'judge', true), frozen: this.frozen, rng: new Rng(1) };
    let model: ClassifierModel;
    if (meta.model === CNN_CHECKPOINT_MODEL) {
      // Parameter names as the pretrain recipe writes them (the classifier task names its model 'classifier').
      const cnn = new DigitCnn(ctx, 'classifier', { ...cnnConfigFromMetadata(meta), batch, frozen: true });
      this.frozen.finalize();
      this.metadata = loadCnnCheckpoint(checkpoint, cnn);
      this.kind = 'cnn';
      model = cnn;
    } else if (meta.model === CLASSIFIER_CHECKPOINT_MODEL) {
      const mlp = new DigitClassifier(ctx, 'classifier', { ...classifierConfigFromMetadata(meta), batch, frozen: true });
      this.frozen.finalize();
      this.metadata = loadClassifierCheckpoint(checkpoint, mlp);
      this.kind = 'mlp';
      model = mlp;
    } else {
      this.frozen.destroy();
      throw new Error(`not a digit classifier checkpoint: model is '${meta.model ?? '(none)'}' (expected '${CLASSIFIER_CHECKPOINT_MODEL}' or '${CNN_CHECKPOINT_MODEL}')`);
    }
    this.runner = new DigitClassifierRunner(rt, model);
  }

  /** images [n, 784] → predicted digits and class probabilities [n, 10]. */
  classify(images: Float32Array): Promise<{ pred: Int32Array; probs: Float32Array }> {
    return this.runner.classify(images);
  }

  /** The classifier's own test accuracy as recorded in its checkpoint (null if absent). */
  recordedAccuracy(): number | null {
    try {
      const t = JSON.parse(this.metadata.test ?? 'null') as { accuracy?: number } | null;
      return typeof t?.accuracy === 'number' ? t.accuracy : null;
    } catch {
      return null;
    }
  }

  destroy(): void {
    this.frozen.destroy();
  }
}
