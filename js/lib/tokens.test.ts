import { describe, expect, it } from "vitest";
import { joinedText, joinTokens } from "./tokens";

describe("joinTokens", () => {
  it("joins WordPiece continuations (##) to the previous token, without the ##", () => {
    const j = joinTokens(["[CLS]", "un", "##believ", "##able", "story", "[SEP]"]);
    expect(j).toEqual([
      { text: "[CLS]", spaceBefore: false },
      { text: "un", spaceBefore: true },
      { text: "believ", spaceBefore: false },
      { text: "able", spaceBefore: false },
      { text: "story", spaceBefore: true },
      { text: "[SEP]", spaceBefore: true },
    ]);
    expect(joinedText(j)).toBe("[CLS] unbelievable story [SEP]");
  });

  it("Ġ and ▁ start a new word; the marker is shown as a space", () => {
    expect(joinTokens(["Ġthe", "Ġcat"])).toEqual([
      { text: "the", spaceBefore: false },
      { text: "cat", spaceBefore: true },
    ]);
    expect(joinedText(joinTokens(["▁the", "▁cat", "▁sat"]))).toBe("the cat sat");
    expect(joinTokens(["a", "▁"])).toEqual([
      { text: "a", spaceBefore: false },
      { text: "", spaceBefore: true },
    ]);
  });

  it("with word-start markers, an unmarked token continues the word (GPT-2, SentencePiece)", () => {
    expect(joinedText(joinTokens(["The", "Ġmodel", "Ġexplain", "ability", "Ġworks"]))).toBe("The model explainability works");
    expect(joinedText(joinTokens(["▁explain", "ability", "▁is", "▁fun"]))).toBe("explainability is fun");
  });

  it("other tokens are separated by a space", () => {
    expect(joinedText(joinTokens(["hello", ",", "world"]))).toBe("hello , world");
  });

  it("keeps hostile tokens literal", () => {
    const hostile = ["<script>alert(1)</script>", "</span>", "<img src=x onerror=window.__p=1>", "&amp;", "##<b>"];
    const j = joinTokens(hostile);
    expect(j.map((t) => t.text)).toEqual(["<script>alert(1)</script>", "</span>", "<img src=x onerror=window.__p=1>", "&amp;", "<b>"]);
  });

  it("a bare ## is a token of its own; non-strings are shown as text", () => {
    expect(joinTokens(["a", "##"])).toEqual([
      { text: "a", spaceBefore: false },
      { text: "##", spaceBefore: true },
    ]);
    expect(joinTokens([null, 5])).toEqual([
      { text: "", spaceBefore: false },
      { text: "5", spaceBefore: true },
    ]);
  });
});
