/**
 * Comparison of methods:
 *
 *   div.nbx-compare-options   one <input type=checkbox class="nbx-compare-option" data-method=<name>>
 *                             per `method_choices` entry, bound to the `compare` list trait
 *                             (each tick writes the full list)
 *   div.nbx-compare-grid      one div.nbx-compare-cell[data-method] per compared method: its label
 *                             and canvas.nbx-compare-map[data-method], drawn from the latest
 *                             `compare` message of that method, all under ONE colour range (the
 *                             robust range over every compared map)
 *   table.nbx-correlations    Spearman correlations (from the `correlations` message), 2 decimals
 *
 * Unticking a method removes its cell (and its row / column of the table). All names and
 * labels go in as text.
 */
import { bindTrait, type BindableModel, type TraitBinding } from "../lib/bind";
import type { LutSource } from "../lib/colormap";
import { prepareMap, renderMap, sharedRange, type MapData } from "../lib/display";
import { sanitizeMethodChoices, type MethodChoice } from "../lib/methods";
import { putRGBA } from "./canvas";
import type { DisplaySettings } from "./heatmap";

const CELL_SIZE = 110;

/** A `compare` value as a list of distinct method names. */
export function parseCompare(raw: unknown): string[] {
  if (!Array.isArray(raw)) return [];
  const out: string[] = [];
  for (const v of raw) if (typeof v === "string" && v !== "" && !out.includes(v)) out.push(v);
  return out;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Well-formed correlations: the methods and a square matrix of numbers (null where not finite). */
export function sanitizeCorrelations(methods: unknown, matrix: unknown): { methods: string[]; matrix: (number | null)[][] } | null {
  if (!Array.isArray(methods) || !Array.isArray(matrix)) return null;
  const names = methods.map((m) => String(m));
  if (matrix.length !== names.length) return null;
  const rows: (number | null)[][] = [];
  for (const row of matrix) {
    if (!Array.isArray(row) || row.length !== names.length) return null;
    rows.push(row.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)));
  }
  return { methods: names, matrix: rows };
}

export interface CompareOptions {
  model: BindableModel;
  doc?: Document;
  /** Called after the ticks changed (user or kernel), e.g. to redraw. */
  onChange?: () => void;
}

export class ComparePanel {
  readonly el: HTMLDivElement;
  readonly options: HTMLDivElement;
  readonly grid: HTMLDivElement;
  readonly table: HTMLTableElement;
  private readonly doc: Document;
  private readonly model: BindableModel;
  private readonly binding: TraitBinding<string[]>;
  private choices: MethodChoice[] = [];
  private readonly maps = new Map<string, { map: MapData; id: number }>();
  private correlations: { id: number; methods: string[]; matrix: (number | null)[][] } | null = null;
  private readonly onChoices = (): void => {
    this.choices = sanitizeMethodChoices(this.model.get("method_choices"));
    this.renderOptions();
  };
  private readonly onTick = (ev: Event): void => {
    const t = ev.target as HTMLInputElement | null;
    if (!t || !t.classList || !t.classList.contains("nbx-compare-option")) return;
    const ticked = new Set(this.checkboxes().filter((b) => b.checked).map((b) => b.dataset.method ?? ""));
    const known = new Set(this.choices.map((c) => c.name));
    // in method_choices order; names the browser does not know (set from Python) are kept
    const next = [
      ...this.choices.map((c) => c.name).filter((n) => ticked.has(n)),
      ...this.binding.get().filter((n) => !known.has(n)),
    ];
    this.binding.write(next);
  };

  constructor(opts: CompareOptions) {
    this.doc = opts.doc ?? document;
    this.model = opts.model;
    const d = this.doc;
    this.el = d.createElement("div");
    this.el.className = "nbx-compare";
    this.options = d.createElement("div");
    this.options.className = "nbx-compare-options";
    this.options.setAttribute("role", "group");
    this.options.setAttribute("aria-label", "methods to compare");
    this.grid = d.createElement("div");
    this.grid.className = "nbx-compare-grid";
    this.table = d.createElement("table");
    this.table.className = "nbx-correlations";
    this.el.append(this.options, this.grid, this.table);

    this.choices = sanitizeMethodChoices(this.model.get("method_choices"));
    this.model.on("change:method_choices", this.onChoices);
    this.options.addEventListener("change", this.onTick);
    this.binding = bindTrait<string[]>(this.model, "compare", {
      parse: (raw, prev) => (Array.isArray(raw) ? parseCompare(raw) : prev),
      fallback: [],
      equals: sameList,
      onValue: (list, source) => {
        for (const name of [...this.maps.keys()]) if (!list.includes(name)) this.maps.delete(name);
        this.showTicks(list);
        this.renderCells(list);
        if (source !== "init") opts.onChange?.();
      },
    });
    this.renderOptions();
    // a reload or a second display: the maps came as messages to the old view; ask again
    if (this.binding.get().length > 0) {
      const send = (this.model as { send?: (c: unknown) => void }).send;
      if (typeof send === "function") send.call(this.model, { kind: "refresh", what: "compare" });
    }
  }

  /** The methods compared (the `compare` trait). */
  compared(): string[] {
    return this.binding.get();
  }

  checkboxes(): HTMLInputElement[] {
    return Array.from(this.options.querySelectorAll<HTMLInputElement>("input.nbx-compare-option"));
  }

  /** A `compare` message's map for `method` (ignored when the method is not ticked). */
  setMap(method: string, map: MapData, id: number): boolean {
    if (!this.binding.get().includes(method)) return false;
    this.maps.set(method, { map, id });
    const cell = Array.from(this.grid.children).find((c) => (c as HTMLElement).dataset.method === method);
    cell?.querySelector(".nbx-compare-cell-error")?.remove();
    return true;
  }

  /** A method that failed (a `compare` message with `error`): its cell shows the text. */
  setError(method: string, text: string): boolean {
    if (!this.binding.get().includes(method)) return false;
    this.maps.delete(method);
    const cell = Array.from(this.grid.children).find((c) => (c as HTMLElement).dataset.method === method) as HTMLElement | undefined;
    if (cell) {
      let note = cell.querySelector(".nbx-compare-cell-error") as HTMLElement | null;
      if (!note) {
        note = this.doc.createElement("div");
        note.className = "nbx-compare-cell-error";
        note.setAttribute("role", "alert");
        cell.append(note);
      }
      note.textContent = text;
    }
    return true;
  }

  setCorrelations(id: number, methods: unknown, matrix: unknown): boolean {
    const c = sanitizeCorrelations(methods, matrix);
    if (!c) return false;
    this.correlations = { id, ...c };
    return true;
  }

  private labelOf(name: string): string {
    return this.choices.find((c) => c.name === name)?.label ?? name;
  }

  private renderOptions(): void {
    const d = this.doc;
    this.options.replaceChildren();
    for (const c of this.choices) {
      const label = d.createElement("label");
      label.className = "nbx-compare-label";
      const box = d.createElement("input");
      box.type = "checkbox";
      box.className = "nbx-compare-option";
      box.dataset.method = c.name;
      const text = d.createElement("span");
      text.textContent = c.label;
      label.append(box, text);
      this.options.append(label);
    }
    if (this.binding) {
      this.showTicks(this.binding.get());
      this.renderCells(this.binding.get());
    }
  }

  private showTicks(list: readonly string[]): void {
    for (const b of this.checkboxes()) b.checked = list.includes(b.dataset.method ?? "");
  }

  /** One cell per compared method, in the `compare` order (kept when already there). */
  private renderCells(list: readonly string[]): void {
    const d = this.doc;
    const existing = new Map<string, HTMLElement>();
    for (const cell of Array.from(this.grid.children) as HTMLElement[]) existing.set(cell.dataset.method ?? "", cell);
    const cells: HTMLElement[] = [];
    for (const name of list) {
      let cell = existing.get(name);
      if (!cell) {
        cell = d.createElement("div");
        cell.className = "nbx-compare-cell";
        cell.dataset.method = name;
        const canvas = d.createElement("canvas");
        canvas.className = "nbx-compare-map";
        canvas.dataset.method = name;
        canvas.setAttribute("role", "img");
        const label = d.createElement("div");
        label.className = "nbx-compare-cell-label";
        cell.append(label, canvas);
      }
      const label = cell.querySelector(".nbx-compare-cell-label") as HTMLElement;
      label.textContent = this.labelOf(name);
      (cell.querySelector("canvas") as HTMLCanvasElement).setAttribute("aria-label", `${this.labelOf(name)} map`);
      cells.push(cell);
    }
    this.grid.replaceChildren(...cells);
    this.grid.classList.toggle("nbx-hidden", cells.length === 0);
  }

  /** Draw every cell under one shared range, and the correlation table. */
  draw(settings: DisplaySettings, luts: LutSource | null): void {
    const list = this.binding.get();
    const drawn = list.filter((n) => this.maps.has(n));
    const mapSettings = { sign: settings.sign, topK: settings.topK };
    const range = sharedRange(
      drawn.map((n) => prepareMap(this.maps.get(n)!.map, mapSettings)),
      settings.clip,
    );
    this.grid.dataset.vmin = range ? String(range.vmin) : "";
    this.grid.dataset.vmax = range ? String(range.vmax) : "";
    for (const cell of Array.from(this.grid.children) as HTMLElement[]) {
      const name = cell.dataset.method ?? "";
      const canvas = cell.querySelector("canvas") as HTMLCanvasElement;
      const entry = this.maps.get(name);
      cell.classList.toggle("nbx-pending", !entry);
      if (!entry) {
        canvas.removeAttribute("data-id");
        continue;
      }
      const r = renderMap(entry.map, { ...mapSettings, colormap: settings.colormap, clip: settings.clip, luts, range });
      putRGBA(canvas, r.rgba, entry.map.w, entry.map.h, CELL_SIZE);
      canvas.dataset.id = String(entry.id);
      canvas.dataset.cmap = r.cmap.name;
    }
    this.renderTable();
  }

  private renderTable(): void {
    const d = this.doc;
    const c = this.correlations;
    const list = this.binding.get();
    this.table.replaceChildren();
    const keep = c ? c.methods.map((m, i) => [m, i] as const).filter(([m]) => list.includes(m)) : [];
    if (!c || keep.length < 2) {
      this.table.classList.add("nbx-hidden");
      this.table.removeAttribute("data-id");
      return;
    }
    this.table.classList.remove("nbx-hidden");
    this.table.dataset.id = String(c.id);
    const caption = d.createElement("caption");
    caption.textContent = "Spearman rank correlation";
    const head = d.createElement("tr");
    head.append(d.createElement("th"));
    for (const [m] of keep) {
      const th = d.createElement("th");
      th.scope = "col";
      th.textContent = this.labelOf(m);
      head.append(th);
    }
    const thead = d.createElement("thead");
    thead.append(head);
    const tbody = d.createElement("tbody");
    for (const [m, i] of keep) {
      const tr = d.createElement("tr");
      const th = d.createElement("th");
      th.scope = "row";
      th.textContent = this.labelOf(m);
      tr.append(th);
      for (const [m2, j] of keep) {
        const td = d.createElement("td");
        const v = c.matrix[i][j];
        td.textContent = v === null ? "–" : (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
        td.dataset.row = m;
        td.dataset.col = m2;
        tr.append(td);
      }
      tbody.append(tr);
    }
    this.table.append(caption, thead, tbody);
  }

  destroy(): void {
    this.model.off("change:method_choices", this.onChoices);
    this.options.removeEventListener("change", this.onTick);
    this.binding.dispose();
  }
}
