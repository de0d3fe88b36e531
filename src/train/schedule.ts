/** Learning-rate schedules: linear warmup, then constant, linear or cosine decay to minRatio·lr. */
export interface LrSchedule {
  kind: 'constant' | 'linear' | 'cosine';
  warmupSteps: number;
  totalSteps: number;
  /** Final lr as a fraction of the peak (decay schedules). */
  minRatio?: number;
}

export function lrScale(s: LrSchedule, step: number): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (step + 1) / s.warmupSteps;
  if (s.kind === 'constant') return 1;
  const minRatio = s.minRatio ?? 0;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const t = Math.min(1, Math.max(0, (step - s.warmupSteps) / span));
  const decay = s.kind === 'linear' ? 1 - t : 0.5 * (1 + Math.cos(Math.PI * t));
  return minRatio + (1 - minRatio) * decay;
}
