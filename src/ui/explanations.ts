/**
 * What the page says about itself, TensorFlow-Playground style: per adapter its formula and a few
 * plain sentences; per toy task what the paper claims, what to look for, and what we measured
 * (numbers copied from REPRODUCTION.md / docs/base-models.md — keep them in step when those change).
 */
import type { AdapterChoice, TaskId } from '../config/schema';

export interface AdapterExplanation {
  name: string;
  formula: string;
  sentences: string[];
}

export const ADAPTER_EXPLANATIONS: Record<AdapterChoice, AdapterExplanation> = {
  none: {
    name: 'No adapter',
    formula: 'h = W₀·x',
    sentences: ['The frozen base model as shipped. Train it to see the baseline every adapter is measured against: nothing changes, so the loss stays where the base is.'],
  },
  stan: {
    name: 'STAN (sparse top-k adapter)',
    formula: 'h = W₀·x + (1/k)·D·topk(E·x)',
    sentences: [
      'An encoder E maps the layer input to l = expansion × n latents; only the k largest survive (the others are exactly 0), and a decoder D writes their sum back onto the frozen output.',
      'Each latent is one direction the fine-tune added. Because only k fire per token, each one tends to mean one thing — open it in the latent view to see which examples it fires on.',
      'The scatter below is the paper\'s App. F: dead latents never fire (left edge), dense ones fire on almost everything (right edge); good latents sit in between with low label entropy.',
    ],
  },
  atoms: {
    name: 'Dictionary atoms',
    formula: 'ΔO = σ_λ(A·X·W_s)·D',
    sentences: [
      'The attention output is rewritten as a sparse combination of M atoms (rows of D): the coefficients σ_λ(A·X·W_s) come from the attention pattern A and a projection W_s, thresholded so only a few atoms are active.',
      'Fine-tuning can move the atoms, the coefficients, or both. The atoms paper claims moving only the atoms is enough to adapt to a new task — try "train: atoms" on the Fourier toy.',
      'Switch single atoms off in the latent view: the output changes by exactly that atom\'s contribution.',
    ],
  },
  lora: {
    name: 'LoRA (low-rank adapter)',
    formula: 'h = W₀·x + (α/r)·B·A·x',
    sentences: ['A dense low-rank update: every one of the r directions is used on every token. The standard baseline — compare its loss curve with the sparse adapters at a similar parameter count.'],
  },
  sora: {
    name: 'SoRA (sparse-rank LoRA)',
    formula: 'h = W₀·x + (α/r)·B·(g ⊙ A·x)',
    sentences: ['LoRA with a gate vector g pushed to zero by a proximal L1 step (λ): ranks that are not needed switch off during training, so the effective rank shrinks on its own.'],
  },
};

export interface TaskExplanation {
  name: string;
  what: string;
  claim: string;
  lookFor: string[];
  /** Our measured numbers, with where they come from. */
  measured: string[];
}

export const TASK_EXPLANATIONS: Record<TaskId, TaskExplanation> = {
  fourier: {
    name: 'Fourier toy (atoms paper §3.3)',
    what: 'Signals of 64 samples made of 5 Fourier bases; 16 samples are observed and the model reconstructs the rest. The base was pre-trained on the low band (frequencies 0–24); fine-tuning moves it to the high band (25–32).',
    claim: 'The paper: a sparse base uses 9 atoms where a dense one needs 100, and fine-tuning only the atoms adapts to the new band while fine-tuning only the coefficients fails.',
    lookFor: [
      'The reconstruction view: observed points, the truth, the base (stuck in the low band) and the adapted model.',
      'Atom toggles: switching an atom off removes its time profile from the output.',
    ],
    measured: [
      'Shipped bases (seed 1, 500 steps): low-band NMSE dense 0.114, sparse 0.192 (linear floor 0.310, copying the observations 0.751).',
      'Atoms used for 95 % of the reconstruction: dense 61 of 64 (49 per signal), sparse 12 of 64 (10 per signal), every used sparse atom ≥ 94 % in the band\'s 5 frequencies (REPRODUCTION.md).',
    ],
  },
  'mnist-vae': {
    name: 'MNIST VAE (atoms paper §4, the 8 → 3 edit)',
    what: 'A transformer VAE pre-trained on digits 5–9 (7×7 patches, 2+2 blocks, latent 32). The adapter fine-tunes its decoder on noisy 3s, a digit the base never saw.',
    claim: 'The paper: a handful of atoms on the decoder\'s attention outputs turn the base\'s 8s into 3s, and each atom\'s contribution map shows which strokes it adds or removes.',
    lookFor: ['The 8 → 3 view: before (base), after (adapted), and each unit\'s red (adds ink) / blue (removes ink) contribution map on the first image.', 'Top-activating digits and per-class bars in the latent view.'],
    measured: ['Base: test reconstruction 81.2 nats, KL 25.2 nats, pixel MSE 0.0130 after 600 steps (docs/base-models.md).'],
  },
  digits: {
    name: 'Labelled digits (rotated)',
    what: 'A small digit transformer pre-trained on upright MNIST digits is the frozen base; the adapter is fine-tuned on the same digits rotated 90°. Every example has a label, so each latent gets per-class activation statistics.',
    claim: 'STAN: the sparse latents of a fine-tune are individually interpretable — most fire for one or two classes (low label entropy), few are dead or dense — and a sparse adapter forgets less of the base task.',
    lookFor: ['The App. F scatter: colour is label entropy (dark = one class).', 'Per-class activation bars and top-activating digits in the latent view.', 'Held-out accuracy on rotated digits: base vs adapted, and what switching latents off does to it.'],
    measured: ['Shipped base (digit-transformer.safetensors): test accuracy 94.9 % upright, 17.0 % rotated 90° — the gap the adapter has to close (1500 steps, 1047 s on SwiftShader).'],
  },
  regression: {
    name: 'Synthetic regression (smoke test)',
    what: 'A 1-block transformer learns a synthetic sequence regression, yₜ = tanh(xₜA)B + mean(x)C. Fast on any GPU: the quickest way to see the loss fall.',
    claim: 'No paper claim: this task checks the engine end to end (forward, backward, AdamW, one GPU submit per step).',
    lookFor: ['The loss curve falling by an order of magnitude within a few hundred steps.'],
    measured: ['Full fine-tuning of the in-page base, 300 steps in headless Chromium on SwiftShader (31 ms/step over the last steps): training loss 0.84 → 0.012, validation 0.092 → 0.013 (test/e2e/playground.e2e.test.ts, the regression test).'],
  },
};

/** The path a first visit can follow without reading the papers. */
export const FIRST_VISIT_STEPS = [
  'Press Play (or Step) — the default adapter trains on the default task; the loss curve falls.',
  'Watch the scatter: each dot is one latent or atom of the adapter.',
  'Click a dot — its view shows the examples it fires on most, per-class bars, and what it writes.',
  'Switch latents off or drag the k slider: the output re-renders at once.',
];
