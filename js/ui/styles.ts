/**
 * Widget styles, injected from JS so that the bundle is a single widget.js.
 * Colours come from JupyterLab's --jp-* variables with neutral fallbacks that
 * read well on light and dark backgrounds.
 */

export const STYLE_ID = "nbx-styles";

export const CSS = `
.nbx-root {
  --nbx-fg: var(--jp-ui-font-color1, currentColor);
  --nbx-fg-muted: var(--jp-ui-font-color2, rgba(127, 127, 127, 0.95));
  --nbx-bg: var(--jp-layout-color1, transparent);
  --nbx-bg-alt: var(--jp-layout-color2, rgba(127, 127, 127, 0.08));
  --nbx-border: var(--jp-border-color2, rgba(127, 127, 127, 0.35));
  --nbx-accent: var(--jp-brand-color1, #1976d2);
  --nbx-error: var(--jp-error-color1, #d32f2f);
  --nbx-warn: var(--jp-warn-color1, #f57c00);
  display: flex;
  flex-direction: column;
  gap: 8px;
  max-width: 660px;
  padding: 6px 8px;
  color: var(--nbx-fg);
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  line-height: 1.35;
  box-sizing: border-box;
}
.nbx-root *, .nbx-root *::before, .nbx-root *::after { box-sizing: inherit; }
.nbx-main { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.nbx-view { display: flex; flex-direction: column; align-items: flex-start; gap: 4px; min-width: 120px; }
.nbx-caption { max-width: 282px; color: var(--nbx-fg-muted); font-size: 0.92em; overflow-wrap: anywhere; }
.nbx-canvas-wrap {
  position: relative;
  display: inline-block;
  border: 1px solid var(--nbx-border);
  border-radius: 3px;
  background: var(--nbx-bg-alt);
  line-height: 0;
}
.nbx-heatmap { display: block; image-rendering: pixelated; }
.nbx-placeholder {
  display: flex; align-items: center; justify-content: center;
  width: 200px; height: 120px; padding: 8px; text-align: center;
  color: var(--nbx-fg-muted); line-height: 1.35; font-style: italic;
}
.nbx-hidden { display: none !important; }
.nbx-colorbar-row { display: flex; width: 100%; max-width: 282px; align-items: center; gap: 6px; font-size: 0.85em; color: var(--nbx-fg-muted); }
.nbx-colorbar {
  flex: 1 1 auto; height: 10px; min-width: 80px; max-width: 200px;
  border: 1px solid var(--nbx-border); border-radius: 2px;
}
.nbx-cbar-min, .nbx-cbar-max { font-variant-numeric: tabular-nums; white-space: nowrap; }
.nbx-side { display: flex; flex-direction: column; gap: 4px; min-width: 180px; flex: 1 1 200px; max-width: 320px; }
.nbx-side-title { font-weight: 600; color: var(--nbx-fg-muted); font-size: 0.92em; }
.nbx-classes { display: flex; flex-direction: column; gap: 3px; }
.nbx-class {
  display: grid;
  grid-template-columns: minmax(0, 1fr) 64px 44px;
  align-items: center;
  gap: 6px;
  width: 100%;
  padding: 3px 6px;
  border: 1px solid var(--nbx-border);
  border-radius: 3px;
  background: var(--nbx-bg);
  color: inherit;
  font: inherit;
  text-align: left;
  cursor: pointer;
}
.nbx-class:hover { background: var(--nbx-bg-alt); }
.nbx-class:focus-visible { outline: 2px solid var(--nbx-accent); outline-offset: 1px; }
.nbx-class[aria-pressed="true"] {
  border-color: var(--nbx-accent);
  box-shadow: inset 3px 0 0 var(--nbx-accent);
  font-weight: 600;
}
.nbx-class-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nbx-class-bar { height: 6px; border-radius: 3px; background: var(--nbx-bg-alt); overflow: hidden; border: 1px solid var(--nbx-border); }
.nbx-class-fill { display: block; height: 100%; background: var(--nbx-accent); }
.nbx-class-prob { text-align: right; font-variant-numeric: tabular-nums; color: var(--nbx-fg-muted); }
.nbx-empty { color: var(--nbx-fg-muted); font-style: italic; }
.nbx-controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
.nbx-control { display: inline-flex; align-items: center; gap: 6px; color: var(--nbx-fg-muted); }
.nbx-control input[type="range"] { width: 120px; accent-color: var(--nbx-accent); }
.nbx-control input[type="checkbox"] { margin: 0; accent-color: var(--nbx-accent); }
.nbx-control select {
  font: inherit; color: var(--nbx-fg); background: var(--nbx-bg);
  border: 1px solid var(--nbx-border); border-radius: 3px; padding: 1px 4px;
}
.nbx-control-value { min-width: 3.2em; font-variant-numeric: tabular-nums; }
.nbx-statusline { display: flex; flex-direction: column; gap: 2px; font-size: 0.92em; }
.nbx-status { color: var(--nbx-fg-muted); }
.nbx-root[data-status="computing"] .nbx-status::before {
  content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 5px;
  border-radius: 50%; background: var(--nbx-accent); animation: nbx-pulse 1s ease-in-out infinite;
}
@keyframes nbx-pulse { 50% { opacity: 0.25; } }
.nbx-warning { color: var(--nbx-warn); white-space: pre-wrap; overflow-wrap: anywhere; }
.nbx-warning::before { content: "\\26A0\\FE0E  "; }
.nbx-error { color: var(--nbx-error); white-space: pre-wrap; overflow-wrap: anywhere; }
`;

/**
 * Put the stylesheet into the document that owns `el` (once; refreshed if the
 * text differs, e.g. after a hot reload). Falls back to `el` when there is no head.
 */
export function injectStyles(el: HTMLElement): void {
  const doc = el.ownerDocument;
  const head = doc && doc.head;
  const parent: HTMLElement = head ?? el;
  let style = (head ? doc.getElementById(STYLE_ID) : el.querySelector(`#${STYLE_ID}`)) as HTMLStyleElement | null;
  if (!style) {
    style = (doc ?? document).createElement("style");
    style.id = STYLE_ID;
    parent.appendChild(style);
  }
  if (style.textContent !== CSS) style.textContent = CSS;
}
