/** Every unit test fails if it left an uncaptured WebGPU error (invalid dispatch, bad binding…). */
import { afterEach, expect } from 'vitest';
import { takeUncapturedErrors } from './gpu';

afterEach(async () => {
  const errors = await takeUncapturedErrors();
  expect(errors, 'uncaptured WebGPU errors').toEqual([]);
});
