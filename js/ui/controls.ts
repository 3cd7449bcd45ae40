/**
 * Opacity slider and colour-map select (bound to the `opacity` and `colormap`
 * traits), and the status line (status, warning, error; all as text).
 */
import type { AnyModel } from "@anywidget/types";
import { COLORMAP_NAMES, type ColormapName } from "../lib/types";

export interface ControlsOptions {
  model: Pick<AnyModel, "get" | "set" | "save_changes">;
  /** Local redraw, called on every slider input before the trait is saved. */
  onOpacity: (v: number) => void;
  onColormap: (name: ColormapName | string) => void;
  doc?: Document;
}

const COLORMAP_LABELS: Record<ColormapName, string> = {
  auto: "auto",
  inferno: "inferno",
  viridis: "viridis",
  rdbu: "RdBu (diverging)",
};

/** A finite opacity in [0, 1] (default 0.5). */
export function clampOpacity(v: unknown, fallback = 0.5): number {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : fallback;
}

export class Controls {
  readonly el: HTMLDivElement;
  readonly opacityInput: HTMLInputElement;
  readonly colormapSelect: HTMLSelectElement;
  private readonly opts: ControlsOptions;

  private readonly onInput = (): void => {
    const v = clampOpacity(this.opacityInput.value);
    this.opts.onOpacity(v);
    this.opts.model.set("opacity", v);
    this.opts.model.save_changes();
  };

  private readonly onSelect = (): void => {
    const name = this.colormapSelect.value;
    this.opts.onColormap(name);
    this.opts.model.set("colormap", name);
    this.opts.model.save_changes();
  };

  constructor(opts: ControlsOptions) {
    this.opts = opts;
    const d = opts.doc ?? document;
    this.el = d.createElement("div");
    this.el.className = "nbx-controls";

    const opLabel = d.createElement("label");
    opLabel.className = "nbx-control";
    opLabel.append(d.createTextNode("Opacity"));
    this.opacityInput = d.createElement("input");
    this.opacityInput.type = "range";
    this.opacityInput.className = "nbx-opacity";
    this.opacityInput.min = "0";
    this.opacityInput.max = "1";
    this.opacityInput.step = "0.01";
    this.opacityInput.setAttribute("aria-label", "heatmap opacity");
    opLabel.append(this.opacityInput);

    const cmLabel = d.createElement("label");
    cmLabel.className = "nbx-control";
    cmLabel.append(d.createTextNode("Colour map"));
    this.colormapSelect = d.createElement("select");
    this.colormapSelect.className = "nbx-colormap";
    for (const name of COLORMAP_NAMES) {
      const o = d.createElement("option");
      o.value = name;
      o.textContent = COLORMAP_LABELS[name];
      this.colormapSelect.append(o);
    }
    cmLabel.append(this.colormapSelect);

    this.el.append(opLabel, cmLabel);
    this.opacityInput.addEventListener("input", this.onInput);
    this.colormapSelect.addEventListener("change", this.onSelect);
  }

  /** Reflect the trait value (does not save). */
  setOpacity(v: number): void {
    const s = String(clampOpacity(v));
    if (this.opacityInput.value !== s) this.opacityInput.value = s;
  }

  /** Reflect the trait value; unknown names show as "auto". */
  setColormap(name: unknown): void {
    const v = typeof name === "string" && (COLORMAP_NAMES as readonly string[]).includes(name) ? name : "auto";
    if (this.colormapSelect.value !== v) this.colormapSelect.value = v;
  }

  destroy(): void {
    this.opacityInput.removeEventListener("input", this.onInput);
    this.colormapSelect.removeEventListener("change", this.onSelect);
  }
}

export class StatusLine {
  readonly el: HTMLDivElement;
  readonly statusEl: HTMLSpanElement;
  readonly warningEl: HTMLDivElement;
  readonly errorEl: HTMLDivElement;

  constructor(doc: Document = document) {
    this.el = doc.createElement("div");
    this.el.className = "nbx-statusline";
    this.statusEl = doc.createElement("span");
    this.statusEl.className = "nbx-status";
    this.statusEl.setAttribute("aria-live", "polite");
    this.warningEl = doc.createElement("div");
    this.warningEl.className = "nbx-warning";
    this.errorEl = doc.createElement("div");
    this.errorEl.className = "nbx-error";
    this.errorEl.setAttribute("role", "alert");
    this.el.append(this.statusEl, this.warningEl, this.errorEl);
    this.setStatus("idle");
    this.setWarning("");
    this.setError("");
  }

  setStatus(status: string, detail = ""): void {
    const text = status === "computing" ? "computing…" : status || "idle";
    this.statusEl.textContent = detail ? `${text} ${detail}` : text;
  }

  setWarning(text: unknown): void {
    const s = typeof text === "string" ? text : "";
    this.warningEl.textContent = s;
    this.warningEl.classList.toggle("nbx-hidden", s === "");
  }

  setError(text: unknown): void {
    const s = typeof text === "string" ? text : "";
    this.errorEl.textContent = s;
    this.errorEl.classList.toggle("nbx-hidden", s === "");
  }
}
