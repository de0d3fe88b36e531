/**
 * Flattens a task view's outputs, whatever its kind (src/playground/types.ts TaskView), so tests
 * can compare the base, the adapted model and the adapted model with every unit on.
 */
import type { TaskView } from '../../src/playground/types';

export type ViewSeries = 'base' | 'adapted' | 'allOn';

export function viewOutputs(v: TaskView, which: ViewSeries): number[] {
  const need = <T>(x: T | null | undefined): T => {
    if (x === null || x === undefined) throw new Error(`the ${v.kind} view has no '${which}' output`);
    return x;
  };
  switch (v.kind) {
    case 'signals':
      return v.signals.flatMap((s) => need(s[which]));
    case 'images':
      return v.images.flatMap((i) => Array.from(need(i[which])));
    case 'classification':
      return v.examples.flatMap((e) => need(e[which]));
    case 'scalars':
      return v.points.map((p) => need(p[which]));
  }
}
