/**
 * Two-way binding of one synced trait (pure logic, no DOM).
 *
 * A binding reads the trait once at start, follows `change:<name>` from the
 * kernel, and writes user input back with `model.set(name, v)` +
 * `model.save_changes()`. Kernel changes are only shown, never written back,
 * so there is no feedback loop; the model's echo of our own `set` is ignored.
 * `dispose()` removes the one listener it added (by reference: other views of
 * the same model keep theirs).
 *
 * The DOM side (elements, events) is `js/ui/bound-controls.ts`.
 */
import type { AnyModel } from "@anywidget/types";

/** What a binding needs from an anywidget model. */
export type BindableModel = Pick<AnyModel, "get" | "set" | "save_changes" | "on" | "off">;

/** Where a value came from: the model at start, the kernel, or the user. */
export type ValueSource = "init" | "kernel" | "user";

export interface TraitBindingOptions<T> {
  /**
   * A valid value from whatever the model or the element holds (a number, a
   * string from an `<input>`, garbage). `previous` is the last valid value
   * (`fallback` at start).
   */
  parse: (raw: unknown, previous: T) => T;
  /** The value used when the model holds nothing valid at start. */
  fallback: T;
  /**
   * Show / apply a value: called once at start ("init"), after each kernel
   * change that changes the value ("kernel"), and on user input before it is
   * saved ("user"). It must not write to the model.
   */
  onValue: (value: T, source: ValueSource) => void;
  /** Value equality (default `Object.is`). */
  equals?: (a: T, b: T) => boolean;
}

export interface TraitBinding<T> {
  /** The trait name (snake_case, as in Python). */
  readonly name: string;
  /** The current (parsed) value. */
  get(): T;
  /** User input: parse, show/apply, then `model.set` + `model.save_changes()`. */
  write(raw: unknown): void;
  /**
   * Re-read the model's value (e.g. after the choices a value is checked against
   * changed): shown as a kernel change when it differs from the current one.
   */
  refresh(): void;
  /** Stop following the model (idempotent). */
  dispose(): void;
}

export function bindTrait<T>(model: BindableModel, name: string, opts: TraitBindingOptions<T>): TraitBinding<T> {
  const equals = opts.equals ?? Object.is;
  const event = `change:${name}`;
  let current = opts.parse(model.get(name), opts.fallback);
  let writing = false; // inside our own model.set: its change event is our echo
  let disposed = false;

  const onChange = (): void => {
    if (writing || disposed) return;
    refresh();
  };
  const refresh = (): void => {
    if (disposed) return;
    const next = opts.parse(model.get(name), current);
    if (equals(next, current)) return;
    current = next;
    opts.onValue(next, "kernel");
  };

  model.on(event, onChange);
  opts.onValue(current, "init");

  return {
    name,
    get: () => current,
    write(raw: unknown): void {
      if (disposed) return;
      const next = opts.parse(raw, current);
      if (equals(next, current) && Object.is(model.get(name), next)) return; // nothing new to save
      if (!equals(next, current)) {
        current = next;
        opts.onValue(next, "user");
      }
      writing = true;
      try {
        model.set(name, next);
      } finally {
        writing = false;
      }
      model.save_changes();
    },
    refresh,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      model.off(event, onChange);
    },
  };
}

// ---------------------------------------------------------------------------
// Parsers for the element kinds (used as `parse` above)
// ---------------------------------------------------------------------------

/** A finite number clamped to [min, max]; anything else keeps `previous`. Numeric strings are read. */
export function parseRange(raw: unknown, previous: number, min: number, max: number): number {
  const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : previous;
}

/** One of `choices`; anything else is `fallback` (an unknown name shows as the default). */
export function parseChoice<V>(raw: unknown, choices: readonly V[], fallback: V): V {
  return choices.includes(raw as V) ? (raw as V) : fallback;
}

/** A boolean; anything else keeps `previous`. */
export function parseToggle(raw: unknown, previous: boolean): boolean {
  return typeof raw === "boolean" ? raw : previous;
}

/**
 * Tell the kernel a user's change is final (a slider released, a menu chosen, a click): it
 * starts the job now instead of waiting for a storm of changes to settle. Models without
 * `send` (tests, static views) ignore it.
 */
export function settle(model: unknown): void {
  const send = (model as { send?: (content: unknown) => void } | null)?.send;
  if (typeof send === "function") send.call(model, { kind: "settle" });
}
