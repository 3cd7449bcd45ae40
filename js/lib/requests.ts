/**
 * Request ids and the latest-wins rule for replies.
 *
 * Every view of one model shares a tracker (keyed by the model object), so two
 * views of the same widget never reuse an id and both agree on what is stale.
 */

export class RequestTracker {
  private sent: number;
  private seen: number;

  /** `seed`: the newest id already known (e.g. `heatmap_meta.request_id`). */
  constructor(seed = 0) {
    this.sent = Number.isFinite(seed) ? Math.max(0, Math.floor(seed)) : 0;
    this.seen = -Infinity;
  }

  /** Newest id sent by this front end (0 before the first request). */
  get newestSent(): number {
    return this.sent;
  }

  /** Newest id of an accepted reply (-Infinity before the first). */
  get newestSeen(): number {
    return this.seen;
  }

  /** Raise the floor so that the next id is greater than `id`. */
  bump(id: unknown): void {
    if (typeof id === "number" && Number.isFinite(id)) this.sent = Math.max(this.sent, Math.floor(id));
  }

  /** A fresh id, greater than every id sent or seen so far. */
  next(): number {
    const base = Math.max(this.sent, Number.isFinite(this.seen) ? this.seen : 0);
    this.sent = Math.floor(base) + 1;
    return this.sent;
  }

  /** Whether a reply with this id is current (not older than the newest request/reply). */
  accepts(id: unknown): boolean {
    if (typeof id !== "number" || !Number.isFinite(id)) return false;
    return id >= this.sent && id >= this.seen;
  }

  /** Record an accepted reply id. */
  observe(id: unknown): void {
    if (typeof id === "number" && Number.isFinite(id)) this.seen = Math.max(this.seen, id);
  }
}

const TRACKERS = new WeakMap<object, RequestTracker>();

/** The tracker shared by every view of `model`. */
export function trackerFor(model: object, seed = 0): RequestTracker {
  let t = TRACKERS.get(model);
  if (!t) {
    t = new RequestTracker(seed);
    TRACKERS.set(model, t);
  } else {
    t.bump(seed);
  }
  return t;
}
