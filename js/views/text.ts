/**
 * view = "text" (protocol16): the explained text, each token a
 * `span.nbx-token[data-index][data-value]` on a signed background (the diverging table over
 * a symmetric range), subword tokens joined (`joinTokens`), and a hover card
 * (`.nbx-token-card`) with the token as given and its value (also on keyboard focus).
 * Tokens are text (`textContent`): `<script>` and `</span>` render literally.
 *
 * Messages: `attribution` with float32 values of length T (meta.shape [T]). Root counters:
 * `data-maps-received`, `data-map-checksum`, `data-stale-ignored`; `data-tokens`.
 */
import { maxAbs, signedColor } from "../lib/bars";
import { checksum } from "../lib/codec";
import { cssGradientOf } from "../lib/colormap";
import { as2dMeta, decodeMap } from "../lib/decode";
import { formatValue } from "../lib/format";
import { joinTokens, joinedText } from "../lib/tokens";
import { asRecord, errorText, mountExamplePicker, ViewShell, type ViewProps } from "./shell";

export function renderText(props: ViewProps): () => void {
  const shell = new ViewShell(props, { view: "text", jobKind: "attribution", redraw: () => redraw() });
  const { m, doc, root } = shell;
  let values: (number | null)[] | null = null;
  mountExamplePicker(shell, () => redraw());

  // ---- DOM ----------------------------------------------------------------------------
  const wrap = doc.createElement("div");
  wrap.className = "nbx-text-wrap";
  const text = doc.createElement("div");
  text.className = "nbx-text";
  const card = doc.createElement("div");
  card.className = "nbx-token-card nbx-hidden";
  card.setAttribute("role", "tooltip");
  const cardToken = doc.createElement("div");
  cardToken.className = "nbx-token-card-token";
  const cardValue = doc.createElement("div");
  cardValue.className = "nbx-token-card-value";
  const cardMeta = doc.createElement("div");
  cardMeta.className = "nbx-token-card-meta";
  card.append(cardToken, cardValue, cardMeta);
  wrap.append(text, card);
  const cbarRow = doc.createElement("div");
  cbarRow.className = "nbx-colorbar-row";
  const cmin = doc.createElement("span");
  cmin.className = "nbx-cbar-min";
  const cbar = doc.createElement("div");
  cbar.className = "nbx-colorbar";
  const cmax = doc.createElement("span");
  cmax.className = "nbx-cbar-max";
  cbarRow.append(cmin, cbar, cmax);
  shell.body.append(wrap, cbarRow);

  const tokens = (): unknown[] => {
    const t = m.get("tokens");
    return Array.isArray(t) ? t : [];
  };

  // ---- drawing ------------------------------------------------------------------------------
  function redraw(): void {
    if (shell.disposed) return;
    const toks = tokens();
    const joined = joinTokens(toks);
    const lut = shell.divergingLut().lut;
    const mx = values ? maxAbs(values) : 1;
    text.replaceChildren();
    joined.forEach((j, i) => {
      if (j.spaceBefore) text.append(doc.createTextNode(" "));
      const span = doc.createElement("span");
      span.className = "nbx-token";
      span.tabIndex = 0;
      span.setAttribute("data-index", String(i));
      const v = values && i < values.length ? values[i] : null;
      span.setAttribute("data-value", v === null ? "" : String(v));
      span.textContent = j.text;
      const c = signedColor(v, mx, lut);
      if (c) {
        span.style.backgroundColor = c.bg;
        span.style.color = c.fg;
      }
      text.append(span);
    });
    text.setAttribute("aria-label", joinedText(joined));
    root.setAttribute("data-tokens", String(toks.length));
    cbarRow.classList.toggle("nbx-hidden", !values);
    if (values) {
      cbar.style.background = cssGradientOf(lut);
      cmin.textContent = formatValue(-mx);
      cmax.textContent = formatValue(mx);
    }
    if (toks.length === 0) {
      const empty = doc.createElement("span");
      empty.className = "nbx-empty";
      empty.textContent = "No tokens.";
      text.append(empty);
    }
    hideCard();
  }

  // ---- the hover card --------------------------------------------------------------------------
  function showCard(span: HTMLElement): void {
    const i = Number(span.getAttribute("data-index"));
    const raw = tokens()[i];
    const ids = m.get("token_ids");
    const id = Array.isArray(ids) ? ids[i] : undefined;
    const v = values && i < values.length ? values[i] : null;
    cardToken.textContent = raw === null || raw === undefined ? "" : String(raw);
    cardValue.textContent = values ? (v === null ? "value: not finite" : `value: ${formatValue(v)}`) : "no attribution yet";
    cardMeta.textContent = `token ${i}${typeof id === "number" ? ` · id ${id}` : ""}`;
    card.setAttribute("data-index", String(i));
    card.style.left = `${span.offsetLeft}px`;
    card.style.top = `${span.offsetTop + span.offsetHeight + 4}px`;
    card.classList.remove("nbx-hidden");
  }
  function hideCard(): void {
    card.classList.add("nbx-hidden");
    card.removeAttribute("data-index");
  }
  const tokenOf = (ev: Event): HTMLElement | null => {
    const t = ev.target as Element | null;
    const s = t && typeof t.closest === "function" ? t.closest(".nbx-token") : null;
    return s && text.contains(s) ? (s as HTMLElement) : null;
  };
  const onOver = (ev: Event): void => {
    const s = tokenOf(ev);
    if (s) showCard(s);
  };
  const onOut = (ev: Event): void => {
    const to = (ev as MouseEvent | FocusEvent).relatedTarget as Node | null;
    if (to && text.contains(to) && tokenOf({ target: to } as unknown as Event)) return;
    hideCard();
  };
  text.addEventListener("mouseover", onOver);
  text.addEventListener("focusin", onOver);
  text.addEventListener("mouseout", onOut);
  text.addEventListener("focusout", onOut);
  shell.onDestroy(() => {
    text.removeEventListener("mouseover", onOver);
    text.removeEventListener("focusin", onOver);
    text.removeEventListener("mouseout", onOut);
    text.removeEventListener("focusout", onOut);
  });

  // ---- messages ----------------------------------------------------------------------------------
  shell.handle("attribution", (msg, buffers) => {
    if (!shell.take("attribution", msg.id)) return;
    const meta = as2dMeta(asRecord(msg.meta), "row");
    const buf = buffers.length > 0 ? buffers[0] : null;
    let vals: (number | null)[];
    try {
      const map = decodeMap(meta, buf, meta.masked === true ? (buffers[1] ?? null) : null);
      vals = Array.from(map.values, (v, i) => ((map.mask && map.mask[i] !== 0) || !Number.isFinite(v) ? null : v));
    } catch (e) {
      shell.showLocalError(`Could not display the result: ${errorText(e)}`);
      shell.setStatus("idle");
      return;
    }
    const n = tokens().length;
    if (n > 0 && vals.length !== n) shell.showLocalError(`The attribution has ${vals.length} values for ${n} tokens.`);
    else shell.clearLocalError();
    values = vals;
    shell.mapArrived(checksum(buf), msg);
    redraw();
  });

  shell.on("change:tokens", () => redraw());
  shell.on("change:token_ids", () => hideCard());

  shell.initCounter("maps-received");
  root.setAttribute("data-map-checksum", "");
  redraw();
  // a reload or a second display: the last final values the kernel keeps in the `map` trait
  const kept = m.get("map") as Record<string, unknown> | null | undefined;
  if (!values && kept && Array.isArray(kept.values)) {
    values = (kept.values as unknown[]).map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null));
    shell.count("maps-received");
    shell.shown(kept.method, kept.target);
    redraw();
  }

  return () => shell.destroy();
}
