/**
 * The status line (status, warning, error; all as text). The display controls
 * (opacity, colour map, ...) are declared in `display-controls.ts` and built by
 * `bound-controls.ts`.
 */

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
