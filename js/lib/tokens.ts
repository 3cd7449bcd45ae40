/**
 * How the text view joins subword tokens (protocol16, view = "text"):
 *
 * - a token starting with `##` (WordPiece) is joined to the previous one, the `##` removed;
 * - a token starting with `Ġ` (byte-level BPE) or `▁` (SentencePiece) starts a new word: the
 *   marker is shown as a space;
 * - any other token is separated from the previous one by a space, unless the tokens use
 *   word-start markers (then it continues the previous word).
 *
 * The first token never has a space before it. Tokens are text: nothing here is markup, and
 * whatever is not a string (null, a number) is shown as its String ("" for null/undefined).
 */

export interface JoinedToken {
  /** What is shown for the token. */
  text: string;
  /** Whether a space goes before it. */
  spaceBefore: boolean;
}

export const WORDPIECE = "##";
export const WORD_MARKERS = ["Ġ", "▁"] as const;

export function joinTokens(tokens: readonly unknown[]): JoinedToken[] {
  const strs = tokens.map((raw) => (raw === null || raw === undefined ? "" : String(raw)));
  // a marker tokenizer (byte-level BPE, SentencePiece) marks word starts: there a token
  // without a marker continues the word before it ("▁explain", "ability" -> "explainability")
  const markerStyle = strs.some((tok) => WORD_MARKERS.some((mk) => tok.startsWith(mk)));
  return strs.map((tok, i) => {
    if (tok.startsWith(WORDPIECE) && tok.length > WORDPIECE.length) {
      return { text: tok.slice(WORDPIECE.length), spaceBefore: false };
    }
    const marker = WORD_MARKERS.find((mk) => tok.startsWith(mk));
    if (marker) return { text: tok.slice(marker.length), spaceBefore: i > 0 };
    return { text: tok, spaceBefore: i > 0 && !markerStyle };
  });
}

/** The text the joined tokens read as (for tests and the aria label). */
export function joinedText(joined: readonly JoinedToken[]): string {
  return joined.map((t) => (t.spaceBefore ? ` ${t.text}` : t.text)).join("");
}
