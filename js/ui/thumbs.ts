/**
 * The thumbnail strip (a batch of several examples): when `thumbnails_meta.n > 1`,
 * `div.nbx-thumbs` holds n `button.nbx-thumb[data-index=i]`, each with its slice of the
 * `thumbnails` picture (decoded by `pictureDecoder`, cropped into a canvas) and its label
 * (`thumbnails_meta.labels[i]`, as text). Clicking sets the `index` trait; the current
 * example has `aria-pressed="true"`.
 */
import { bindTrait, settle, type BindableModel, type TraitBinding } from "../lib/bind";
import { byteLengthOf } from "../lib/codec";
import { isPictureEncoding, pictureDecoder, type Picture } from "../lib/picture";
import { cropRGBA, sanitizeThumbsMeta, thumbRect, type ThumbsMeta } from "../lib/thumbs";
import type { BytesLike } from "../lib/types";
import { putRGBA } from "./canvas";

const THUMB_SIZE = 48;

export class ThumbStrip {
  readonly el: HTMLDivElement;
  private readonly doc: Document;
  private readonly model: BindableModel;
  private readonly binding: TraitBinding<number>;
  private meta: ThumbsMeta = sanitizeThumbsMeta(null);
  private picture: Picture | null = null;
  private ticket = 0;
  private disposed = false;
  private readonly onMeta = (): void => this.load();
  private readonly onClick = (ev: Event): void => {
    const t = ev.target as Element | null;
    const btn = t && typeof t.closest === "function" ? t.closest("button.nbx-thumb") : null;
    if (!btn || !this.el.contains(btn)) return;
    const i = Number(btn.getAttribute("data-index"));
    if (Number.isInteger(i)) {
      this.binding.write(i);
      settle(this.model);
    }
  };

  constructor(model: BindableModel, doc: Document = document) {
    this.model = model;
    this.doc = doc;
    this.el = doc.createElement("div");
    this.el.className = "nbx-thumbs";
    this.el.setAttribute("role", "group");
    this.el.setAttribute("aria-label", "examples of the batch: choose the one to explain");
    this.binding = bindTrait<number>(model, "index", {
      parse: (raw, prev) => (typeof raw === "number" && Number.isInteger(raw) && raw >= 0 ? raw : prev),
      fallback: 0,
      onValue: (i) => this.select(i),
    });
    this.el.addEventListener("click", this.onClick);
    model.on("change:thumbnails_meta", this.onMeta);
    model.on("change:thumbnails", this.onMeta);
    this.load();
  }

  buttons(): HTMLButtonElement[] {
    return Array.from(this.el.querySelectorAll<HTMLButtonElement>("button.nbx-thumb"));
  }

  private select(i: number): void {
    for (const b of this.buttons()) b.setAttribute("aria-pressed", String(Number(b.dataset.index) === i));
  }

  /** Rebuild from the traits; the picture decodes asynchronously (a newer load wins). */
  load(): void {
    this.meta = sanitizeThumbsMeta(this.model.get("thumbnails_meta"));
    this.picture = null;
    this.render();
    const bytes = this.model.get("thumbnails") as BytesLike | null;
    if (this.meta.n <= 1 || this.meta.thumb <= 0 || byteLengthOf(bytes) === 0) return;
    const encoding = isPictureEncoding(this.meta.encoding) ? this.meta.encoding : "png";
    const ticket = ++this.ticket;
    pictureDecoder.decode(bytes!, encoding).then(
      (pic) => {
        if (this.disposed || ticket !== this.ticket) return;
        this.picture = pic;
        this.drawPictures();
      },
      (e: unknown) => console.warn("nbexplain: cannot decode the thumbnails", e),
    );
  }

  private render(): void {
    const d = this.doc;
    const { n, labels } = this.meta;
    this.el.replaceChildren();
    this.el.classList.toggle("nbx-hidden", n <= 1);
    this.el.dataset.n = String(n);
    if (n <= 1) return;
    for (let i = 0; i < n; i++) {
      const b = d.createElement("button");
      b.type = "button";
      b.className = "nbx-thumb";
      b.dataset.index = String(i);
      b.title = `${labels[i]} (example ${i})`;
      const canvas = d.createElement("canvas");
      canvas.className = "nbx-thumb-picture";
      canvas.setAttribute("aria-hidden", "true");
      const label = d.createElement("span");
      label.className = "nbx-thumb-label";
      label.textContent = labels[i];
      b.append(canvas, label);
      this.el.append(b);
    }
    this.select(this.binding ? this.binding.get() : 0);
    this.drawPictures();
  }

  private drawPictures(): void {
    const pic = this.picture;
    if (!pic) return;
    const { thumb } = this.meta;
    for (const b of this.buttons()) {
      const i = Number(b.dataset.index);
      const rect = thumbRect(i, thumb, pic.w);
      const canvas = b.querySelector("canvas") as HTMLCanvasElement;
      putRGBA(canvas, cropRGBA(pic.rgba, pic.w, pic.h, rect), rect.w, rect.h, THUMB_SIZE);
      canvas.dataset.drawn = "true";
    }
  }

  destroy(): void {
    this.disposed = true;
    this.el.removeEventListener("click", this.onClick);
    this.model.off("change:thumbnails_meta", this.onMeta);
    this.model.off("change:thumbnails", this.onMeta);
    this.binding.dispose();
  }
}
