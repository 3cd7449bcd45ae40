/**
 * view = "global" (protocol16): a data-set method's figure (`figure`, a PNG drawn by the same
 * code as `.plot()`) shown as `<img class="nbx-figure">` from a blob URL (the previous URL is
 * revoked when the figure changes and when the view goes), and for partial dependence a
 * `select.nbx-feature` (options from `feature_names`) whose change sets `feature` + settle.
 *
 * `feature` is written as the name; should the kernel hold it as an index (an int), the
 * index is written instead. Root: `data-kind`, `data-figure-checksum`, `data-figures-shown`.
 */
import { bindTrait, settle } from "../lib/bind";
import { asBytes, byteLengthOf, checksum } from "../lib/codec";
import { asRecord, stringList, ViewShell, type ViewProps } from "./shell";

export const KIND_TITLES: Record<string, string> = {
  permutation_importance: "Permutation importance",
  partial_dependence: "Partial dependence",
};

/** The `feature` trait's value read against the names: a name (string) or an index (int); anything else keeps `prev`. */
export function parseFeature(raw: unknown, names: readonly string[], prev: string | number): string | number {
  if (typeof raw === "number" && Number.isInteger(raw) && raw >= 0 && (names.length === 0 || raw < names.length)) return raw;
  if (typeof raw === "string" && (names.length === 0 || names.includes(raw))) return raw;
  return prev;
}

export function renderGlobal(props: ViewProps): () => void {
  const shell = new ViewShell(props, { view: "global", jobKind: "figure", redraw: () => undefined });
  const { m, doc, root } = shell;
  let url: string | null = null;

  // ---- the feature select (partial dependence) ------------------------------------------
  const label = doc.createElement("label");
  label.className = "nbx-control";
  label.dataset.trait = "feature";
  const labelText = doc.createElement("span");
  labelText.className = "nbx-control-label";
  labelText.textContent = "Feature";
  const select = doc.createElement("select");
  select.className = "nbx-feature";
  select.setAttribute("aria-label", "feature of the partial dependence");
  label.append(labelText, select);
  shell.controls.append(label);
  const names = (): string[] => stringList(m.get("feature_names"));
  const optionValue = (v: string | number): string => (typeof v === "number" ? (names()[v] ?? "") : v);
  const binding = bindTrait<string | number>(m, "feature", {
    parse: (raw, prev) => parseFeature(raw, names(), prev),
    fallback: "",
    onValue: (v) => {
      const s = optionValue(v);
      if (select.value !== s) select.value = s;
    },
  });
  shell.track(binding as never);
  function rebuildOptions(): void {
    select.replaceChildren();
    for (const n of names()) {
      const o = doc.createElement("option");
      o.value = n;
      o.textContent = n;
      select.append(o);
    }
    binding.refresh();
    const s = optionValue(binding.get());
    if (select.value !== s) select.value = s;
  }
  const onSelect = (): void => {
    const name = select.value;
    const asIndex = typeof m.get("feature") === "number";
    binding.write(asIndex ? names().indexOf(name) : name);
    settle(m);
  };
  select.addEventListener("change", onSelect);
  shell.onDestroy(() => select.removeEventListener("change", onSelect));

  // ---- the figure ------------------------------------------------------------------------
  const title = doc.createElement("div");
  title.className = "nbx-figure-title";
  const img = doc.createElement("img");
  img.className = "nbx-figure";
  img.alt = "figure";
  const placeholder = doc.createElement("div");
  placeholder.className = "nbx-placeholder";
  shell.body.append(title, img, placeholder);

  function revoke(): void {
    if (url !== null) {
      try {
        URL.revokeObjectURL(url);
      } catch {
        /* not a blob URL any more */
      }
      url = null;
    }
  }

  function showFigure(): void {
    const raw = m.get("figure");
    revoke();
    if (byteLengthOf(raw) === 0) {
      img.removeAttribute("src");
      img.classList.add("nbx-hidden");
      placeholder.classList.remove("nbx-hidden");
      placeholder.textContent = m.get("status") === "computing" ? "Computing…" : "No figure yet.";
      root.setAttribute("data-figure-checksum", "");
      return;
    }
    const bytes = asBytes(raw);
    url = URL.createObjectURL(new Blob([bytes.slice()], { type: "image/png" }));
    img.src = url;
    const meta = asRecord(m.get("figure_meta"));
    const w = Number(meta.width);
    const h = Number(meta.height);
    if (w > 0 && h > 0) {
      img.width = Math.round(w);
      img.height = Math.round(h);
    } else {
      img.removeAttribute("width");
      img.removeAttribute("height");
    }
    img.classList.remove("nbx-hidden");
    placeholder.classList.add("nbx-hidden");
    root.setAttribute("data-figure-checksum", checksum(bytes));
    shell.count("figures-shown");
  }

  function showKind(): void {
    const kind = typeof m.get("kind") === "string" ? (m.get("kind") as string) : "";
    root.setAttribute("data-kind", kind);
    title.textContent = KIND_TITLES[kind] ?? kind;
    const pdp = kind === "partial_dependence";
    label.classList.toggle("nbx-hidden", !pdp);
    label.hidden = !pdp;
    const f = binding.get();
    const name = optionValue(f);
    img.alt = pdp && name ? `${title.textContent}: ${name}` : title.textContent || "figure";
  }

  shell.on("change:figure", () => showFigure());
  shell.on("change:figure_meta", () => {
    const meta = asRecord(m.get("figure_meta"));
    if (Number(meta.width) > 0 && Number(meta.height) > 0) {
      img.width = Math.round(Number(meta.width));
      img.height = Math.round(Number(meta.height));
    }
  });
  shell.on("change:kind", () => showKind());
  shell.on("change:feature_names", () => rebuildOptions());
  shell.on("change:feature", () => showKind());
  shell.on("change:status", () => {
    if (byteLengthOf(m.get("figure")) === 0) showFigure();
  });
  shell.onDestroy(revoke);

  shell.initCounter("figures-shown");
  rebuildOptions();
  showKind();
  showFigure();
  return () => shell.destroy();
}
