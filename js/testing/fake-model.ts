/**
 * A minimal stand-in for an anywidget model (get/set/on/off/send/save_changes),
 * enough to drive the front end's logic in happy-dom tests.
 */
type Handler = (...args: any[]) => void;

export class FakeModel {
  state: Record<string, any>;
  sent: unknown[] = [];
  saves = 0;
  private handlers = new Map<string, Handler[]>();
  widget_manager = {
    get_model: () => Promise.reject(new Error("not available in tests")),
  };

  constructor(state: Record<string, any>) {
    this.state = { ...state };
  }

  get(key: string): any {
    return this.state[key];
  }

  /** Sets and fires `change:key` (like Backbone, only when the value changes). */
  set(key: string, value: unknown): void {
    const old = this.state[key];
    this.state[key] = value;
    if (old !== value) this.emit(`change:${key}`);
  }

  /** Sets several keys first, then fires their change events (like one comm update). */
  setMany(values: Record<string, unknown>): void {
    const changed: string[] = [];
    for (const [k, v] of Object.entries(values)) {
      if (this.state[k] !== v) changed.push(k);
      this.state[k] = v;
    }
    for (const k of changed) this.emit(`change:${k}`);
  }

  save_changes(): void {
    this.saves += 1;
  }

  send(content: unknown): void {
    this.sent.push(content);
  }

  on(event: string, fn: Handler): void {
    const list = this.handlers.get(event) ?? [];
    list.push(fn);
    this.handlers.set(event, list);
  }

  off(event?: string | null, fn?: Handler | null): void {
    if (event == null) {
      this.handlers.clear();
      return;
    }
    if (fn == null) {
      this.handlers.delete(event);
      return;
    }
    const list = this.handlers.get(event) ?? [];
    this.handlers.set(
      event,
      list.filter((h) => h !== fn),
    );
  }

  emit(event: string, ...args: unknown[]): void {
    for (const h of [...(this.handlers.get(event) ?? [])]) h(...args);
  }

  /** Simulate a kernel → browser custom message. */
  receive(msg: unknown, buffers: DataView[] = []): void {
    this.emit("msg:custom", msg, buffers);
  }

  listenerCount(): number {
    let n = 0;
    for (const list of this.handlers.values()) n += list.length;
    return n;
  }
}
