/** The path a first visit can follow without reading the papers (the page's guide). Task and adapter texts live in their modules. */
export const FIRST_VISIT_STEPS = [
  'Press Play (or Step) — the default task trains; the loss curve falls.',
  'Watch the scatter: each dot is one latent or atom.',
  'Click a dot — its view shows the examples it fires on most, per-class bars, and what it writes.',
  'Switch latents off or drag the k slider: the output re-renders at once.',
];
