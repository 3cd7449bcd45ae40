/**
 * The latest-wins rule for kernel messages.
 *
 * The browser sends no requests: every control is a trait, and the kernel numbers its jobs
 * (ids increase). A message is shown only if its id is >= the newest id seen for its kind
 * (`attribution`, `path`, `compare`, `correlations`): a job overtaken by a newer one is
 * dropped, while a job's partial results and its final one (same id) are all shown.
 */

export class LatestIds {
  private readonly newest = new Map<string, number>();

  /** Newest accepted id of `kind` (-Infinity before the first). */
  newestOf(kind: string): number {
    return this.newest.get(kind) ?? -Infinity;
  }

  /** Whether a message of `kind` with this id is current (a finite number >= the newest seen). */
  accepts(kind: string, id: unknown): boolean {
    return typeof id === "number" && Number.isFinite(id) && id >= this.newestOf(kind);
  }

  /** Record an accepted id. */
  observe(kind: string, id: unknown): void {
    if (typeof id === "number" && Number.isFinite(id)) this.newest.set(kind, Math.max(this.newestOf(kind), id));
  }

  /** `accepts`, then `observe` when accepted. */
  take(kind: string, id: unknown): boolean {
    if (!this.accepts(kind, id)) return false;
    this.observe(kind, id);
    return true;
  }
}
