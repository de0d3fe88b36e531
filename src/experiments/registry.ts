/**
 * Every paper reproduction, by name (`npm run repro -- <name>`). Adding one: a module in this
 * folder exporting an Experiment (./experiment.ts), plus one line here.
 */
import type { Experiment } from './experiment';
import { fourierExperiment } from './fourier';
import { mnistVae8to3Experiment } from './mnist-vae-8to3';
import { stanForgettingExperiment, stanKExpansionExperiment, stanLatentsExperiment } from './stan';

export const EXPERIMENTS: Record<string, Experiment> = {
  fourier: fourierExperiment,
  'mnist-vae-8to3': mnistVae8to3Experiment,
  'stan-k-expansion': stanKExpansionExperiment,
  'stan-forgetting': stanForgettingExperiment,
  'stan-latents': stanLatentsExperiment,
};
