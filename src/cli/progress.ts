/** A dependency-free progress bar: redraws one line on a TTY, prints every ~10 % otherwise. */
export class ProgressBar {
  private lastPrintedPct = -1;
  private lastDone = -1;
  private readonly start = Date.now();
  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, extra = ''): void {
    if (done === this.lastDone && !this.out.isTTY) return;
    this.lastDone = done;
    const pct = Math.floor((100 * done) / Math.max(1, this.total));
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed * (this.total - done)) / done : 0;
    if (this.out.isTTY) {
      const width = 28;
      const filled = Math.round((width * done) / Math.max(1, this.total));
      this.out.write(`\r${this.label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${this.total} ${extra} ${elapsed.toFixed(1)}s eta ${eta.toFixed(0)}s   `);
    } else if (pct >= this.lastPrintedPct + 10 || done === this.total) {
      this.lastPrintedPct = pct;
      this.out.write(`${this.label} ${done}/${this.total} (${pct}%) ${extra} ${elapsed.toFixed(1)}s\n`);
    }
  }

  done(extra = ''): void {
    this.update(this.total, extra);
    if (this.out.isTTY) this.out.write('\n');
  }
}
