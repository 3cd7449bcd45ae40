/**
 * Controls bound to one trait each: the DOM side of `lib/bind.ts`.
 *
 * A control is declared once (trait, element kind, label, format, effect; see
 * `display-controls.ts`) and `mountControl` builds
 *
 *   <label class="nbx-control" data-trait="<trait>">
 *     <span class="nbx-control-label">Label</span>
 *     <input type="range" | <select> | <input type="checkbox">   class="nbx-<trait>"
 *     <span class="nbx-control-value">formatted</span>            (only with `format`)
 *   </label>
 *
 * sets it from `model.get(trait)`, saves user input to the trait, follows the
 * kernel's changes, and hands every new value to the declaration's `apply`.
 * All text goes in with `textContent`.
 */
import { bindTrait, parseChoice, parseRange, parseToggle, type BindableModel, type TraitBinding, type ValueSource } from "../lib/bind";

interface ControlBase<N extends string, T, Target> {
  /** Synced trait name: snake_case, identical to the Python trait. */
  trait: N;
  /** Visible label (plain text). */
  label: string;
  /** Value used when the model holds nothing valid. */
  default: T;
  /** Applies a value to the view (start, kernel change, user input). The widget redraws afterwards. */
  apply: (target: Target, value: T) => void;
  /** Text for the value shown next to the control (and as aria-valuetext); none when omitted. */
  format?: (value: T) => string;
  /** Accessible name, when the visible label is not enough. */
  ariaLabel?: string;
  /** Class of the element; default `nbx-<trait>` with `_` → `-`. */
  className?: string;
}

export interface RangeControl<N extends string = string, Target = unknown> extends ControlBase<N, number, Target> {
  kind: "range";
  min: number;
  max: number;
  step: number;
}

export interface SelectOption<V extends string = string> {
  value: V;
  label: string;
}

export interface SelectControl<N extends string = string, V extends string = string, Target = unknown>
  extends ControlBase<N, V, Target> {
  kind: "select";
  options: readonly SelectOption<V>[];
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
      spec: Omit2<SelectControl<N, V, Target>, "kind" | "default"> & { default: NoInfer<V> },
    ): SelectControl<N, V, Target> {
      return { kind: "select", ...spec };
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

export interface MountedControl {
  readonly spec: ControlSpec<any>;
  /** The `<label class="nbx-control">` wrapper. */
  readonly el: HTMLLabelElement;
  /** The `<input>` or `<select>`. */
  readonly input: HTMLInputElement | HTMLSelectElement;
  readonly binding: TraitBinding<unknown>;
  /** Remove the DOM and model listeners (idempotent). The element stays in the DOM. */
  destroy(): void;
}

export interface MountOptions<Target> {
  model: BindableModel;
  target: Target;
  /** Called after `apply` for kernel changes and user input (not at start), e.g. to redraw. */
  afterChange?: (source: ValueSource) => void;
  doc?: Document;
}

/** The element of one kind, how to read it, how to show a value, and which DOM event means user input. */
interface ElementKind {
  input: HTMLInputElement | HTMLSelectElement;
  read(): unknown;
  show(value: unknown): void;
  event: "input" | "change";
}

function buildElement(spec: ControlSpec<any>, d: Document): ElementKind {
  switch (spec.kind) {
    case "range": {
      const input = d.createElement("input");
      input.type = "range";
      input.min = String(spec.min);
      input.max = String(spec.max);
      input.step = String(spec.step);
      return {
        input,
        read: () => input.value,
        show: (v) => {
          const s = String(v);
          if (input.value !== s) input.value = s;
        },
        event: "input",
      };
    }
    case "select": {
      const select = d.createElement("select");
      for (const opt of spec.options) {
        const o = d.createElement("option");
        o.value = opt.value;
        o.textContent = opt.label;
        select.append(o);
      }
      return {
        input: select,
        read: () => select.value,
        show: (v) => {
          const s = String(v);
          if (select.value !== s) select.value = s;
        },
        event: "change",
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

function parserFor(spec: ControlSpec<any>): (raw: unknown, previous: any) => any {
  switch (spec.kind) {
    case "range":
      return (raw, prev: number) => parseRange(raw, prev, spec.min, spec.max);
    case "select": {
      const values = spec.options.map((o) => o.value);
      return (raw) => parseChoice(raw, values, spec.default);
    }
    case "toggle":
      return (raw, prev: boolean) => parseToggle(raw, prev);
  }
}

/** Build one bound control (see the module comment). */
export function mountControl<Target>(spec: ControlSpec<Target>, opts: MountOptions<Target>): MountedControl {
  const d = opts.doc ?? document;
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

  const format = spec.format as ((v: unknown) => string) | undefined;
  const readout = format ? d.createElement("span") : null;
  if (readout) {
    readout.className = "nbx-control-value";
    readout.setAttribute("aria-hidden", "true"); // the input carries it as aria-valuetext
    el.append(readout);
  }

  const apply = spec.apply as (target: Target, value: unknown) => void;
  const binding = bindTrait<unknown>(opts.model, spec.trait, {
    parse: parserFor(spec),
    fallback: spec.default,
    onValue: (value, source) => {
      kind.show(value);
      if (format && readout) {
        const text = format(value);
        readout.textContent = text;
        input.setAttribute("aria-valuetext", text);
      }
      apply(opts.target, value);
      if (source !== "init") opts.afterChange?.(source);
    },
  });

  const onInput = (): void => {
    binding.write(kind.read());
    kind.show(binding.get()); // an out-of-range or unknown entry snaps back to the saved value
  };
  input.addEventListener(kind.event, onInput);

  let destroyed = false;
  return {
    spec,
    el,
    input,
    binding,
    destroy(): void {
      if (destroyed) return;
      destroyed = true;
      input.removeEventListener(kind.event, onInput);
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

  destroy(): void {
    for (const c of this.controls) c.destroy();
  }
}
