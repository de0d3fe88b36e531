/**
 * Small inline SVG icons for the controls and verdicts: they render the same everywhere (no
 * emoji or symbol font needed; headless browsers and minimal Linux installs lack ⏸ and friends).
 */
const PATHS = {
  play: 'M4 2.5v11l9-5.5z',
  pause: 'M4 2.5h3v11H4zM9 2.5h3v11H9z',
  step: 'M3 2.5v11l7-5.5zM11 2.5h2.5v11H11z',
  reset: 'M8 2.5a5.5 5.5 0 1 0 5.2 7.3l-1.7-.6A3.7 3.7 0 1 1 8 4.3c1 0 1.9.4 2.6 1L8.8 7H14V1.8l-2.1 2.1A5.5 5.5 0 0 0 8 2.5z',
  check: 'M2.5 8.5l1.6-1.6 2.6 2.6 5.2-5.7 1.6 1.5-6.8 7.3z',
  cross: 'M3.5 4.9l1.4-1.4L8 6.6l3.1-3.1 1.4 1.4L9.4 8l3.1 3.1-1.4 1.4L8 9.4l-3.1 3.1-1.4-1.4L6.6 8z',
} as const;

export type IconName = keyof typeof PATHS;

/** A 1em icon; decorative unless `label` is given (then it is an image with that name). */
export function Icon({ name, label }: { name: IconName; label?: string }) {
  return (
    <svg className="icon" width="1em" height="1em" viewBox="0 0 16 16" fill="currentColor" {...(label ? { role: 'img', 'aria-label': label } : { 'aria-hidden': true })} data-icon={name}>
      <path d={PATHS[name]} />
    </svg>
  );
}
