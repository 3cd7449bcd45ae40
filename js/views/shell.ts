/**
 * What every view of protocol16 (table, sequence, text, global) shares: the root element
 * (`.nbx-root[data-view][data-status]`), the method picker (the image view's `method`
 * declaration, options from `method_choices`), the class list (a click sets `target` +
 * settle), the status line (status, warning, error), the colour tables (`colormap_names` +
 * `colormap_lut`), the newest-id rule per message kind, and `progress` / `error` messages.
 *
 * Layout: `.nbx-top` (the controls, then the class list), `.nbx-body` (the view's own
 * content), the status line. All text goes in with `textContent`.
 */
import type { AnyModel } from "@anywidget/types";
import { bindTrait, settle, type TraitBinding } from "../lib/bind";
import { asBytes, byteLengthOf } from "../lib/codec";
import { isDivergingName, lutSource, resolveLut, type LutSource, type ResolvedLut } from "../lib/colormap";
import { optionsOf, sanitizeMethodChoices } from "../lib/methods";
import { LatestIds } from "../lib/requests";
import { ControlBar, type ControlContext, type ControlSpec } from "../ui/bound-controls";
import { ClassList, sanitizeTopClasses } from "../ui/classes";
import { COMPUTE_CONTROLS } from "../ui/compute-controls";
import { StatusLine } from "../ui/controls";

export type ViewKind = "image" | "table" | "sequence" | "text" | "global";

/** The view the `view` trait names; anything else (missing, empty, unknown) is the image view. */
export function viewKind(value: unknown): ViewKind {
  return value === "table" || value === "sequence" || value === "text" || value === "global" ? value : "image";
}

export type ViewModel = AnyModel;

export interface ViewProps {
  model: ViewModel;
  el: HTMLElement;
}

export function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A list of strings (anything else in it as its String; not a list: empty). */
export function stringList(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.map((s) => (typeof s === "string" ? s : String(s))) : [];
}

/** The feature names for f values (`feature_names`, or `x<i>` where missing). */
export function namesFor(raw: unknown, f: number): string[] {
  const names = stringList(raw);
  return Array.from({ length: f }, (_, i) => names[i] ?? `x${i}`);
}

/** The image view's method picker: a select bound to `method`, options from `method_choices`. */
const METHOD_SPEC = COMPUTE_CONTROLS.find((s) => s.trait === "method") as unknown as ControlSpec<unknown>;
const METHOD_PICKER: ControlSpec<unknown> = {
  ...METHOD_SPEC,
  // hidden while the kernel offers no methods (e.g. the data-set views)
  visible: (ctx) => sanitizeMethodChoices(ctx.get("method_choices")).length > 0,
};

export interface ShellOptions {
  view: Exclude<ViewKind, "image">;
  /** The message kind whose ids decide whether a `progress` or `error` message is current. */
  jobKind: string;
  /** Redraw from the data already here (colour tables changed). */
  redraw: () => void;
}

type MessageHandler = (msg: Record<string, unknown>, buffers: DataView[]) => void;

export class ViewShell {
  readonly m: ViewModel;
  readonly doc: Document;
  readonly root: HTMLDivElement;
  /** The controls' row (method picker first). */
  readonly controls: HTMLDivElement;
  /** The view's own content. */
  readonly body: HTMLDivElement;
  readonly ids = new LatestIds();
  readonly status: StatusLine;
  readonly classes: ClassList;
  private readonly opts: ShellOptions;
  private readonly bars: ControlBar<unknown>[] = [];
  private readonly bindings: TraitBinding<unknown>[] = [];
  private readonly subs: Array<[string, (...args: any[]) => void]> = [];
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly counters = new Map<string, number>();
  private readonly cleanups: Array<() => void> = [];
  private luts: LutSource | null = null;
  private localError = "";
  disposed = false;

  constructor(props: ViewProps, opts: ShellOptions) {
    this.m = props.model;
    this.opts = opts;
    const el = props.el;
    const doc = (this.doc = el.ownerDocument ?? document);
    this.root = doc.createElement("div");
    this.root.className = "nbx-root";
    this.root.setAttribute("data-view", opts.view);
    const top = doc.createElement("div");
    top.className = "nbx-top";
    this.controls = doc.createElement("div");
    this.controls.className = "nbx-top-controls";
    this.classes = new ClassList({ model: this.m, doc });
    top.append(this.controls, this.classes.el);
    this.body = doc.createElement("div");
    this.body.className = "nbx-body";
    this.status = new StatusLine(doc);
    this.root.append(top, this.body, this.status.el);
    el.append(this.root);

    this.addBar([METHOD_PICKER], true);

    this.on("change:top_classes", () => this.showClasses());
    this.on("change:target", () => this.classes.setSelected(this.m.get("target")));
    this.on("change:method_choices", () => this.refreshVisibility());
    this.on("change:status", () => this.setStatus(this.m.get("status")));
    this.on("change:error", () => {
      this.localError = "";
      this.status.setError(this.m.get("error"));
    });
    this.on("change:warning", () => this.status.setWarning(this.m.get("warning")));
    const onLuts = (): void => {
      this.loadLuts();
      this.opts.redraw();
    };
    this.on("change:colormap_lut", onLuts);
    this.on("change:colormap_names", onLuts);
    this.on("change:colormap", () => this.opts.redraw());
    this.on("msg:custom", (msg: unknown, buffers: unknown) => this.onMessage(msg, buffers));

    this.root.setAttribute("data-stale-ignored", "0");
    this.setStatus(this.m.get("status"));
    this.status.setError(this.m.get("error"));
    this.status.setWarning(this.m.get("warning"));
    this.showClasses();
    this.loadLuts();
  }

  // --- model ---------------------------------------------------------------------------

  /** Follow a model event until `destroy`. */
  on(event: string, fn: (...args: any[]) => void): void {
    this.m.on(event, fn);
    this.subs.push([event, fn]);
  }

  /** Run `fn` at `destroy` (DOM listeners, blob URLs). */
  onDestroy(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Set a trait from the browser: `model.set` + `save_changes` (+ settle: the kernel may start now). */
  write(trait: string, value: unknown, andSettle: boolean): void {
    this.m.set(trait, value);
    this.m.save_changes();
    if (andSettle) settle(this.m);
  }

  /** A row of bound controls in the controls area (`settles`: their changes are compute changes). */
  addBar(specs: readonly ControlSpec<unknown>[], settles: boolean, afterChange?: () => void): ControlBar<unknown> {
    const bar = new ControlBar<unknown>(specs, {
      model: this.m,
      doc: this.doc,
      target: null,
      afterChange: () => {
        this.refreshVisibility();
        afterChange?.();
      },
      onSettle: settles ? () => settle(this.m) : undefined,
    });
    this.bars.push(bar);
    this.controls.append(bar.el);
    bar.updateVisibility(this.context());
    return bar;
  }

  /** A binding made elsewhere (e.g. an index select) disposed with the shell. */
  track(binding: TraitBinding<unknown>): void {
    this.bindings.push(binding);
  }

  context(): ControlContext {
    const method = String(this.m.get("method") ?? "");
    return {
      get: (trait) => this.m.get(trait),
      method,
      methodOptions: optionsOf(sanitizeMethodChoices(this.m.get("method_choices")), method),
      hasUncertainty: false,
    };
  }

  refreshVisibility(): void {
    const ctx = this.context();
    for (const b of this.bars) b.updateVisibility(ctx);
  }

  // --- messages --------------------------------------------------------------------------

  /** Handle messages of `kind` (the newest-id rule is the handler's: `take`). */
  handle(kind: string, fn: MessageHandler): void {
    this.handlers.set(kind, fn);
  }

  /** The newest-id rule: whether a message of `kind` is current (recorded when it is); counts stale ones. */
  take(kind: string, id: unknown): boolean {
    if (this.ids.take(kind, id)) return true;
    this.count("stale-ignored");
    return false;
  }

  /** Increment the root's `data-<name>` counter. */
  count(name: string): number {
    const n = (this.counters.get(name) ?? 0) + 1;
    this.counters.set(name, n);
    this.root.setAttribute(`data-${name}`, String(n));
    return n;
  }

  /** Set the root's `data-<name>` counter to 0 (at start). */
  initCounter(name: string): void {
    this.counters.set(name, 0);
    this.root.setAttribute(`data-${name}`, "0");
  }

  private onMessage(msg: unknown, buffers: unknown): void {
    const k = asRecord(msg);
    const bufs = Array.isArray(buffers) ? (buffers as DataView[]) : [];
    try {
      const h = typeof k.kind === "string" ? this.handlers.get(k.kind) : undefined;
      if (h) h(k, bufs);
      else if (k.kind === "progress") {
        if (!this.ids.accepts(this.opts.jobKind, k.id)) return;
        const done = Number(k.done);
        const total = Number(k.total);
        this.setStatus("computing", Number.isFinite(done) && Number.isFinite(total) && total > 0 ? `${done}/${total}` : "");
      } else if (k.kind === "error" || (k.kind === undefined && typeof k.error === "string")) {
        if (!this.ids.accepts(this.opts.jobKind, k.id)) return;
        this.showLocalError(typeof k.error === "string" ? k.error : "unknown error");
        this.setStatus("idle");
      }
    } catch (e) {
      console.error("nbexplain: failed to handle a kernel message", e);
      this.showLocalError(`Could not handle a kernel message: ${errorText(e)}`);
    }
  }

  // --- status -------------------------------------------------------------------------------

  setStatus(s: unknown, detail = ""): void {
    const v = s === "computing" ? "computing" : "idle";
    this.root.setAttribute("data-status", v);
    this.status.setStatus(v, detail);
  }

  showLocalError(text: string): void {
    this.localError = text;
    this.status.setError(text);
  }

  clearLocalError(): void {
    if (!this.localError) return;
    this.localError = "";
    this.status.setError(this.m.get("error"));
  }

  /** Mark the result on screen: `data-method`, `data-target`. */
  /** A map message was drawn: counted, its checksum on the root, the caption, and the status
   * (a partial result keeps "computing"). */
  mapArrived(sum: string, msg: { method?: unknown; target?: unknown; final?: unknown }): void {
    this.count("maps-received");
    this.root.setAttribute("data-map-checksum", sum);
    this.shown(msg.method, msg.target);
    if (msg.final === false) this.setStatus("computing", "(partial result)");
    else this.setStatus("idle");
  }

  shown(method: unknown, target: unknown): void {
    if (typeof method === "string") this.root.setAttribute("data-method", method);
    if (typeof target === "number" && Number.isFinite(target)) this.root.setAttribute("data-target", String(target));
  }

  private showClasses(): void {
    const raw = this.m.get("top_classes");
    this.classes.setClasses(raw);
    this.classes.setSelected(this.m.get("target"));
    // no scores (a regression, a data-set view): no class list
    this.classes.el.classList.toggle("nbx-hidden", sanitizeTopClasses(raw).length === 0);
  }

  // --- colours --------------------------------------------------------------------------------

  private loadLuts(): void {
    let bytes: Uint8Array | null = null;
    try {
      const raw = this.m.get("colormap_lut");
      bytes = byteLengthOf(raw) > 0 ? asBytes(raw) : null;
    } catch {
      bytes = null;
    }
    this.luts = lutSource(this.m.get("colormap_names"), bytes);
  }

  /** The diverging table to draw signed values with: the `colormap` trait when it names a diverging map, else RdBu_r. */
  divergingLut(): ResolvedLut {
    const setting = this.m.get("colormap");
    const name = typeof setting === "string" && isDivergingName(setting) ? setting : "auto";
    const r = resolveLut(name, true, this.luts);
    return r.diverging ? r : resolveLut("auto", true, this.luts);
  }

  destroy(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [event, fn] of this.subs) this.m.off(event, fn);
    this.subs.length = 0;
    for (const b of this.bars) b.destroy();
    for (const b of this.bindings) b.dispose();
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch (e) {
        console.warn("nbexplain: cleanup failed", e);
      }
    }
    this.classes.destroy();
    this.root.remove();
  }
}

export interface IndexSelectOptions {
  trait: string;
  label: string;
  className: string;
  ariaLabel?: string;
  /** The number of entries and the label of entry i. */
  count: () => number;
  labelOf: (i: number) => string;
  /** The user's change is final (the kernel may start now). */
  onSettle?: () => void;
  afterChange?: () => void;
}

/**
 * `<label class="nbx-control" data-trait><span>Label</span><select class=...>` bound to an Int
 * trait (the bound-controls selects hold strings): option values are "0".."n-1".
 * `rebuild()` re-reads the entries (e.g. after the list trait changed).
 */
export function mountIndexSelect(shell: ViewShell, opts: IndexSelectOptions): { el: HTMLLabelElement; select: HTMLSelectElement; rebuild: () => void } {
  const doc = shell.doc;
  const el = doc.createElement("label");
  el.className = "nbx-control";
  el.dataset.trait = opts.trait;
  const text = doc.createElement("span");
  text.className = "nbx-control-label";
  text.textContent = opts.label;
  const select = doc.createElement("select");
  select.className = opts.className;
  if (opts.ariaLabel) select.setAttribute("aria-label", opts.ariaLabel);
  el.append(text, select);
  const parse = (raw: unknown, prev: number): number => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    return Number.isInteger(n) && n >= 0 ? n : prev;
  };
  const show = (v: number): void => {
    const s = String(v);
    if (select.value !== s) select.value = s;
  };
  const binding = bindTrait<number>(shell.m, opts.trait, {
    parse,
    fallback: 0,
    onValue: (v, source) => {
      show(v);
      if (source !== "init") opts.afterChange?.();
    },
  });
  const rebuild = (): void => {
    const n = Math.max(0, Math.floor(opts.count()));
    select.replaceChildren();
    for (let i = 0; i < n; i++) {
      const o = doc.createElement("option");
      o.value = String(i);
      o.textContent = opts.labelOf(i);
      select.append(o);
    }
    select.disabled = n <= 1;
    show(binding.get());
  };
  const onChange = (): void => {
    binding.write(select.value);
    show(binding.get());
    opts.onSettle?.();
  };
  select.addEventListener("change", onChange);
  shell.track(binding as TraitBinding<unknown>);
  shell.onDestroy(() => select.removeEventListener("change", onChange));
  rebuild();
  return { el, select, rebuild };
}

/**
 * The example picker of the sequence and text views: a select bound to `index`, one entry per
 * `row_labels` (a preview of each example, as text), shown when there are several examples.
 */
export function mountExamplePicker(shell: ViewShell, redraw: () => void): void {
  const labels = (): string[] => stringList(shell.m.get("row_labels"));
  const picker = mountIndexSelect(shell, {
    trait: "index",
    label: "Example",
    className: "nbx-row",
    ariaLabel: "example explained",
    count: () => labels().length,
    labelOf: (i) => labels()[i] ?? `example ${i}`,
    onSettle: () => settle(shell.m),
    afterChange: redraw,
  });
  shell.controls.prepend(picker.el);
  const place = (): void => {
    picker.rebuild();
    picker.el.classList.toggle("nbx-hidden", labels().length <= 1);
  };
  place();
  const onLabels = (): void => place();
  shell.m.on("change:row_labels", onLabels);
  shell.onDestroy(() => shell.m.off("change:row_labels", onLabels));
}
