/**
 * Controls bound to one trait each: the DOM side of `lib/bind.ts`.
 *
 * A control is declared once (trait, element kind, label, format, effect; see
 * `display-controls.ts` and `compute-controls.ts`) and `mountControl` builds
 *
 *   <label class="nbx-control" data-trait="<trait>">
 *     <span class="nbx-control-label">Label</span>
 *     <input type="range" | <select> | <input type="checkbox">   class="nbx-<trait>"
 *     <span class="nbx-control-value">formatted</span>            (only with `format`)
 *   </label>
 *
 * sets it from `model.get(trait)`, saves user input to the trait, follows the
 * kernel's changes, and hands every new value to the declaration's `apply`.
 * A select's options may come from a kernel-owned list trait (`optionsFrom`): they
 * are rebuilt on `change:<that trait>`. A control can be shown only for some
 * methods (`methodOption`: the chosen method's `method_choices[*].options` names the
 * trait) or under any other condition (`visible`). A range can be logarithmic
 * (`scale: "log"`: the slider moves over 0..1000 and the value is `data-value`) and
 * can throttle its writes while dragged (`throttleMs`: the first and the last value
 * are always written). All text goes in with `textContent`.
 */
import { bindTrait, parseChoice, parseRange, parseToggle, type BindableModel, type TraitBinding, type ValueSource } from "../lib/bind";

/** What a control's visibility may depend on. */
export interface ControlContext {
  /** A trait's current value. */
  get(trait: string): unknown;
  /** The chosen method (`method` trait). */
  method: string;
  /** The option traits of the chosen method (`method_choices[*].options`). */
  methodOptions: readonly string[];
  /** Whether the map on screen carried an uncertainty map (Shapley). */
  hasUncertainty: boolean;
}

interface ControlBase<N extends string, T, Target> {
  /** Synced trait name: snake_case, identical to the Python trait. */
  trait: N;
  /** Visible label (plain text). */
  label: string;
  /** Value used when the model holds nothing valid. */
  default: T;
  /** Applies a value to the view (start, kernel change, user input). The widget redraws afterwards. */
  apply?: (target: Target, value: T) => void;
  /** Text for the value shown next to the control (and as aria-valuetext); none when omitted. */
  format?: (value: T) => string;
  /** Accessible name, when the visible label is not enough. */
  ariaLabel?: string;
  /** Class of the element; default `nbx-<trait>` with `_` → `-`. */
  className?: string;
  /** Which group of the layout it goes in (the widget's panels: "method", "baseline", "path", "display"). */
  panel?: string;
  /** Shown only when the chosen method lists this trait among its options. */
  methodOption?: boolean;
  /** Shown only when this returns true (re-evaluated after every change). */
  visible?: (ctx: ControlContext) => boolean;
  /** User input is written at most once per this many ms (the last value always). Default: every input. */
  throttleMs?: number;
}

export interface RangeControl<N extends string = string, Target = unknown> extends ControlBase<N, number, Target> {
  kind: "range";
  min: number;
  max: number;
  step: number;
  /** Values are rounded to integers (an Int trait). */
  integer?: boolean;
  /** "log": the slider moves in equal ratios (min must be > 0). Default "linear". */
  scale?: "linear" | "log";
  /** 0 means "the method's own choice": the slider's lowest position, shown as "auto". */
  auto?: boolean;
}

export interface SelectOption<V extends string = string> {
  value: V;
  label: string;
}

/** Options read from a kernel-owned list trait. */
export interface OptionsFrom {
  /** The list trait (e.g. "rule_choices"). */
  trait: string;
  /** Options from the trait's value; default: a list of strings, each its own label. */
  read?: (raw: unknown) => SelectOption[];
}

export interface SelectControl<N extends string = string, V extends string = string, Target = unknown>
  extends ControlBase<N, V, Target> {
  kind: "select";
  /** The options (with `optionsFrom`: the ones listed before the trait's). */
  options: readonly SelectOption<V>[];
  optionsFrom?: OptionsFrom;
}

export interface ToggleControl<N extends string = string, Target = unknown> extends ControlBase<N, boolean, Target> {
  kind: "toggle";
}

export type ControlSpec<Target = unknown> =
  | RangeControl<string, Target>
  | SelectControl<string, any, Target>
  | ToggleControl<string, Target>;

/** The trait type a declaration binds (number, the option union, boolean). */
export type ControlValue<C> = C extends ControlBase<string, infer T, any> ? T : never;

/** `{trait: value type}` for a list of declarations (keeps the literal trait names). */
export type TraitsOf<Cs extends readonly ControlSpec<any>[]> = {
  [C in Cs[number] as C["trait"]]: ControlValue<C>;
};

type Omit2<T, K extends keyof any> = Pick<T, Exclude<keyof T, K>>;

/** A list of strings as options, each its own label. */
export function stringOptions(raw: unknown): SelectOption[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter((v): v is string => typeof v === "string").map((v) => ({ value: v, label: v }));
}

/**
 * Declaration helpers for controls that act on a `Target` (the view): they fill
 * in `kind` and keep the literal trait name and option values, so that the
 * trait types can be derived from the list (`TraitsOf`).
 */
export function controlKit<Target>() {
  return {
    range<const N extends string>(spec: Omit2<RangeControl<N, Target>, "kind">): RangeControl<N, Target> {
      return { kind: "range", ...spec };
    },
    select<const N extends string, const V extends string>(
      spec: Omit2<SelectControl<N, V, Target>, "kind" | "default" | "optionsFrom"> & { default: NoInfer<V> },
    ): SelectControl<N, V, Target> {
      return { kind: "select", ...spec };
    },
    /** A select whose options come from a kernel-owned list trait (plus `options` first). */
    selectFrom<const N extends string>(
      spec: Omit2<SelectControl<N, string, Target>, "kind" | "options" | "optionsFrom"> & {
        optionsFrom: OptionsFrom;
        options?: readonly SelectOption[];
      },
    ): SelectControl<N, string, Target> {
      return { kind: "select", ...spec, options: spec.options ?? [] };
    },
    toggle<const N extends string>(spec: Omit2<ToggleControl<N, Target>, "kind">): ToggleControl<N, Target> {
      return { kind: "toggle", ...spec };
    },
  };
}

/** `nbx-<trait>`, underscores as dashes. */
export function controlClassName(spec: Pick<ControlSpec, "trait" | "className">): string {
  return spec.className ?? `nbx-${spec.trait.replace(/_/g, "-")}`;
}

/** Whether a control is shown in a context. */
export function isVisible(spec: ControlSpec<any>, ctx: ControlContext | null): boolean {
  if (!ctx) return !spec.methodOption;
  if (spec.methodOption && !ctx.methodOptions.includes(spec.trait)) return false;
  return spec.visible ? spec.visible(ctx) : true;
}

// --- range scales ------------------------------------------------------------

const LOG_STEPS = 1000;

/** Slider position -> value (log scale: 0..1000 -> min..max in equal ratios). */
export function rangeFromSlider(spec: Pick<RangeControl, "min" | "max" | "scale" | "integer">, pos: number): number {
  let v = pos;
  if (spec.scale === "log" && spec.min > 0 && spec.max > spec.min) {
    v = spec.min * (spec.max / spec.min) ** (Math.min(LOG_STEPS, Math.max(0, pos)) / LOG_STEPS);
  }
  return spec.integer ? Math.round(v) : v;
}

/** Value -> slider position. */
export function rangeToSlider(spec: Pick<RangeControl, "min" | "max" | "scale">, value: number): number {
  if (spec.scale === "log" && spec.min > 0 && spec.max > spec.min) {
    const v = Math.min(spec.max, Math.max(spec.min, value));
    return Math.round((LOG_STEPS * Math.log(v / spec.min)) / Math.log(spec.max / spec.min));
  }
  return value;
}

// --- mounting -----------------------------------------------------------------

export interface MountedControl {
  readonly spec: ControlSpec<any>;
  /** The `<label class="nbx-control">` wrapper. */
  readonly el: HTMLLabelElement;
  /** The `<input>` or `<select>`. */
  readonly input: HTMLInputElement | HTMLSelectElement;
  readonly binding: TraitBinding<unknown>;
  /** Show or hide it for a context; returns whether it is shown. */
  updateVisibility(ctx: ControlContext | null): boolean;
  /** Write a throttled value still waiting (no-op when none). */
  flush(): void;
  /** Remove the DOM and model listeners (idempotent). The element stays in the DOM. */
  destroy(): void;
}

export interface MountOptions<Target> {
  model: BindableModel;
  target: Target;
  /** Called after `apply` for kernel changes and user input (not at start), e.g. to redraw. */
  afterChange?: (source: ValueSource, trait: string) => void;
  /** The user's change is final (a slider released, a menu chosen): the kernel may start now. */
  onSettle?: () => void;
  doc?: Document;
}

/** The element of one kind, how to read it, how to show a value, and which DOM event means user input. */
interface ElementKind {
  input: HTMLInputElement | HTMLSelectElement;
  read(): unknown;
  show(value: unknown): void;
  event: "input" | "change";
  /** Rebuild the options (selects). */
  setOptions?(options: readonly SelectOption[]): void;
}

function buildElement(spec: ControlSpec<any>, d: Document): ElementKind {
  switch (spec.kind) {
    case "range": {
      const input = d.createElement("input");
      input.type = "range";
      const log = spec.scale === "log" && spec.min > 0 && spec.max > spec.min;
      // with `auto`, one position below the range stands for 0 ("the method's own choice")
      const autoPos = spec.auto ? (log ? -1 : spec.min - spec.step) : null;
      input.min = String(autoPos ?? (log ? 0 : spec.min));
      input.max = String(log ? LOG_STEPS : spec.max);
      input.step = String(log ? 1 : spec.step);
      if (log) input.dataset.scale = "log";
      return {
        input,
        read: () => {
          if (autoPos !== null && Number(input.value) <= autoPos) return 0;
          return log ? rangeFromSlider(spec, Number(input.value)) : input.value;
        },
        show: (v) => {
          const s = String(autoPos !== null && Number(v) === 0 ? autoPos : rangeToSlider(spec, Number(v)));
          if (input.value !== s) input.value = s;
          input.dataset.value = String(v);
        },
        event: "input",
      };
    }
    case "select": {
      const select = d.createElement("select");
      const setOptions = (options: readonly SelectOption[]): void => {
        const keep = select.value;
        select.replaceChildren();
        for (const opt of options) {
          const o = d.createElement("option");
          o.value = opt.value;
          o.textContent = opt.label;
          select.append(o);
        }
        if (options.some((o) => o.value === keep)) select.value = keep;
      };
      setOptions(spec.options);
      return {
        input: select,
        read: () => select.value,
        show: (v) => {
          const s = String(v);
          if (select.value !== s) select.value = s;
        },
        event: "change",
        setOptions,
      };
    }
    case "toggle": {
      const input = d.createElement("input");
      input.type = "checkbox";
      return {
        input,
        read: () => input.checked,
        show: (v) => {
          const b = v === true;
          if (input.checked !== b) input.checked = b;
        },
        event: "change",
      };
    }
  }
}

function parserFor(spec: ControlSpec<any>, choices: () => readonly string[]): (raw: unknown, previous: any) => any {
  switch (spec.kind) {
    case "range":
      return (raw, prev: number) => {
        if (spec.auto && (raw === 0 || raw === "0")) return 0;
        const v = parseRange(raw, prev, spec.min, spec.max);
        return spec.integer ? Math.round(v) : v;
      };
    case "select":
      return (raw) => {
        const offered = choices();
        // no choices yet (their list trait is still empty): keep the model's string as it is
        if (offered.length === 0 && typeof raw === "string") return raw;
        return parseChoice(raw, offered, spec.default);
      };
    case "toggle":
      return (raw, prev: boolean) => parseToggle(raw, prev);
  }
}

/** Build one bound control (see the module comment). */
export function mountControl<Target>(spec: ControlSpec<Target>, opts: MountOptions<Target>): MountedControl {
  const d = opts.doc ?? document;
  const model = opts.model;
  const el = d.createElement("label");
  el.className = "nbx-control";
  el.dataset.trait = spec.trait;
  const labelText = d.createElement("span");
  labelText.className = "nbx-control-label";
  labelText.textContent = spec.label;

  const kind = buildElement(spec, d);
  const input = kind.input;
  input.className = controlClassName(spec);
  if (spec.ariaLabel) input.setAttribute("aria-label", spec.ariaLabel);
  el.append(labelText, input);

  // The values a select offers: its own options, then the list trait's.
  let offered: SelectOption[] = spec.kind === "select" ? [...spec.options] : [];
  const optionsFrom = spec.kind === "select" ? spec.optionsFrom : undefined;
  const readOptions = (): SelectOption[] => {
    if (spec.kind !== "select") return [];
    const fromTrait = optionsFrom ? (optionsFrom.read ?? stringOptions)(model.get(optionsFrom.trait)) : [];
    const seen = new Set<string>();
    const out: SelectOption[] = [];
    for (const o of [...spec.options, ...fromTrait]) {
      if (seen.has(o.value)) continue;
      seen.add(o.value);
      out.push(o);
    }
    return out;
  };
  if (optionsFrom) {
    offered = readOptions();
    kind.setOptions?.(offered);
  }
  const parse = parserFor(spec, () => offered.map((o) => o.value));

  const format = spec.format as ((v: unknown) => string) | undefined;
  const readout = format ? d.createElement("span") : null;
  if (readout) {
    readout.className = "nbx-control-value";
    readout.setAttribute("aria-hidden", "true"); // the input carries it as aria-valuetext
    el.append(readout);
  }
  const showReadout = (value: unknown): void => {
    if (format && readout) {
      const text = spec.kind === "range" && spec.auto && value === 0 ? "auto" : format(value);
      readout.textContent = text;
      input.setAttribute("aria-valuetext", text);
    }
  };

  const apply = spec.apply as ((target: Target, value: unknown) => void) | undefined;
  // user input: `afterChange` runs once the value is in the model (the binding applies it before saving)
  let userChanged = false;
  const binding = bindTrait<unknown>(model, spec.trait, {
    parse,
    fallback: spec.default,
    onValue: (value, source) => {
      kind.show(value);
      showReadout(value);
      apply?.(opts.target, value);
      if (source === "user") userChanged = true;
      else if (source !== "init") opts.afterChange?.(source, spec.trait);
    },
  });

  // A kernel-owned list of choices changed: new options, and the model's value re-read against them.
  const onOptions = (): void => {
    offered = readOptions();
    kind.setOptions?.(offered);
    kind.show(binding.get());
    binding.refresh();
  };
  const optionsEvent = optionsFrom ? `change:${optionsFrom.trait}` : null;
  if (optionsEvent) model.on(optionsEvent, onOptions);

  // --- user input (optionally throttled) ---
  const throttle = spec.kind === "range" && spec.throttleMs && spec.throttleMs > 0 ? spec.throttleMs : 0;
  let pending: { raw: unknown } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastWrite = -Infinity;
  const write = (raw: unknown): void => {
    userChanged = false;
    binding.write(raw);
    if (userChanged) {
      userChanged = false;
      opts.afterChange?.("user", spec.trait);
    }
    kind.show(binding.get()); // an out-of-range or unknown entry snaps back to the saved value
    showReadout(binding.get());
    lastWrite = Date.now();
  };
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending) {
      const p = pending;
      pending = null;
      write(p.raw);
    }
  };
  const onInput = (): void => {
    const raw = kind.read();
    if (!throttle) {
      write(raw);
      if (spec.kind !== "range") opts.onSettle?.(); // a menu or a box: the choice is made
      return;
    }
    const now = Date.now();
    showReadout(parse(raw, binding.get())); // the readout follows the slider at once
    if (timer === null && now - lastWrite >= throttle) {
      pending = null;
      write(raw);
      return;
    }
    pending = { raw };
    if (timer === null) timer = setTimeout(flush, Math.max(0, throttle - (now - lastWrite)));
  };
  // A slider's `change` (released): whatever is waiting is written now.
  const onRelease = (): void => {
    flush();
    opts.onSettle?.();
  };
  input.addEventListener(kind.event, onInput);
  if (throttle) input.addEventListener("change", onRelease);

  let destroyed = false;
  let visible = true;
  return {
    spec,
    el,
    input,
    binding,
    updateVisibility(ctx: ControlContext | null): boolean {
      visible = isVisible(spec, ctx);
      el.classList.toggle("nbx-hidden", !visible);
      el.hidden = !visible;
      return visible;
    },
    flush,
    destroy(): void {
      if (destroyed) return;
      destroyed = true;
      flush();
      input.removeEventListener(kind.event, onInput);
      if (throttle) input.removeEventListener("change", onRelease);
      if (optionsEvent) model.off(optionsEvent, onOptions);
      binding.dispose();
    },
  };
}

/** `<div class="nbx-controls">` holding one bound control per declaration. */
export class ControlBar<Target> {
  readonly el: HTMLDivElement;
  readonly controls: readonly MountedControl[];

  constructor(specs: readonly ControlSpec<Target>[], opts: MountOptions<Target>) {
    const d = opts.doc ?? document;
    this.el = d.createElement("div");
    this.el.className = "nbx-controls";
    this.controls = specs.map((spec) => mountControl(spec, opts));
    this.el.append(...this.controls.map((c) => c.el));
  }

  /** The control bound to `trait` (undefined when none). */
  get(trait: string): MountedControl | undefined {
    return this.controls.find((c) => c.spec.trait === trait);
  }

  /** Show the controls that apply in `ctx`, hide the others; returns how many are shown. */
  updateVisibility(ctx: ControlContext | null): number {
    let n = 0;
    for (const c of this.controls) if (c.updateVisibility(ctx)) n++;
    return n;
  }

  destroy(): void {
    for (const c of this.controls) c.destroy();
  }
}
