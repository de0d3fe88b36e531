/**
 * The shipped VAE base checkpoint (public/checkpoints/mnist-vae-5to9.safetensors): it loads into a
 * frozen VAE and reproduces its recorded denoising metrics on the fixed check subset; decoded
 * prior samples are judged by the shipped classifier; checkpoints of another shape or config are
 * rejected with the tensor (or config field) named; a frozen VAE with a trainable pack of its own
 * is what the atoms fine-tuning builds on.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParamPack } from '../src/engine/param-pack';
import { Rng } from '../src/engine/rng';
import { classifierConfigFromMetadata, DigitClassifier, DigitClassifierRunner, loadClassifierCheckpoint } from '../src/models/digit-classifier';
import { loadVaeCheckpoint, TransformerVae, vaeConfigFromMetadata, type VaeConfig } from '../src/models/vae';
import { loadMnistNode } from '../src/data/mnist-node';
import { buildMnistVaeTask, MNIST_VAE_DEFAULTS, sampleLatents, VAE_CHECK_IMAGES } from '../src/tasks/mnist-vae';
import { baseCheckpointMetadata, loadBaseCheckpoint } from '../src/io/base-checkpoint';
import { testRuntime } from './helpers/gpu';

const VAE_FILE = 'public/checkpoints/mnist-vae-5to9.safetensors';
const CLASSIFIER_FILE = 'public/checkpoints/digit-classifier.safetensors';

describe('shipped VAE checkpoint', () => {
  const bytes = new Uint8Array(readFileSync(VAE_FILE));
  const meta = baseCheckpointMetadata(bytes);
  const base = vaeConfigFromMetadata(meta);

  it('records its config, steps, time and metrics', () => {
    expect(base).toEqual(MNIST_VAE_DEFAULTS.model);
    expect(JSON.parse(meta.config!).digits).toEqual([5, 6, 7, 8, 9]);
    for (const k of ['steps', 'seconds', 'train_final', 'test', 'check']) expect(meta[k], k).toBeDefined();
  });

  it('loads into a frozen VAE and reproduces the recorded denoising metrics; prior samples decode to digits 5–9', async () => {
    const rt = await testRuntime();
    const mnist = loadMnistNode();
    const task = buildMnistVaeTask(rt, mnist, { ...MNIST_VAE_DEFAULTS, model: { ...base, frozen: true } });
    expect(task.packs.trainable.params.length).toBe(0);
    loadVaeCheckpoint(bytes, task.vae);
    const recorded = JSON.parse(meta.check!) as { images: number; rec: number; kl: number; mse: number };
    const ev = await task.evaluate(task.testIndices.slice(0, VAE_CHECK_IMAGES));
    expect(ev.images).toBe(recorded.images);
    expect(Math.abs(ev.rec - recorded.rec) / recorded.rec).toBeLessThan(0.01);
    expect(Math.abs(ev.kl - recorded.kl) / recorded.kl).toBeLessThan(0.01);
    expect(Math.abs(ev.mse - recorded.mse) / recorded.mse).toBeLessThan(0.02);

    // Decoded standard-normal latents, judged by the shipped classifier.
    const cbytes = new Uint8Array(readFileSync(CLASSIFIER_FILE));
    const ccfg = classifierConfigFromMetadata(baseCheckpointMetadata(cbytes));
    const frozen = new ParamPack(rt, 'classifier.frozen', false);
    const clf = new DigitClassifier({ rt, trainable: new ParamPack(rt, 'classifier', true), frozen, rng: new Rng(1) }, 'classifier', { ...ccfg, batch: 64, frozen: true });
    frozen.finalize();
    loadClassifierCheckpoint(cbytes, clf);
    const images = await task.decode(sampleLatents(64, base.latent, 1));
    const { pred } = await new DigitClassifierRunner(rt, clf).classify(images);
    const inSubset = Array.from(pred).filter((d) => d >= 5).length / pred.length;
    expect(inSubset).toBeGreaterThanOrEqual(0.7);
    task.destroy();
  });

  it('a VAE of another shape is rejected, naming the tensor; another head count names the config field', async () => {
    const rt = await testRuntime();
    const mk = (cfg: VaeConfig) => {
      const trainable = new ParamPack(rt, 't', true);
      const frozen = new ParamPack(rt, 'f', false);
      const vae = new TransformerVae({ rt, trainable, frozen, rng: new Rng(1) }, 'vae', { ...cfg, batch: 2, frozen: true });
      frozen.finalize();
      trainable.finalize();
      return vae;
    };
    expect(() => loadVaeCheckpoint(bytes, mk({ ...base, latent: 16 }))).toThrow(/'vae\.encoder\.mu\.weight' has shape \[32,2048\], the model needs \[16,2048\]/);
    expect(() => loadVaeCheckpoint(bytes, mk({ ...base, heads: 2 }))).toThrow(/config heads: the checkpoint has 4, the model 2/);
    expect(() => loadBaseCheckpoint(bytes, mk({ ...base, decoderLayers: 1 }).parameters())).toThrow(/unexpected tensor 'vae\.decoder\.blocks\.1\./);
    expect(() => loadVaeCheckpoint(new Uint8Array(readFileSync(CLASSIFIER_FILE)), mk(base))).toThrow(/'digit-classifier' model, expected 'mnist-vae'/);
  });
});
