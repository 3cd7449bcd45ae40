/**
 * `method_choices` (kernel-owned): the image methods, their labels, and the option traits
 * of each (which option controls are shown for it).
 */

export interface MethodChoice {
  name: string;
  label: string;
  /** Trait names of the method's option controls. */
  options: string[];
}

/** Well-formed entries only (name a non-empty string; label defaults to the name). */
export function sanitizeMethodChoices(value: unknown): MethodChoice[] {
  if (!Array.isArray(value)) return [];
  const out: MethodChoice[] = [];
  const seen = new Set<string>();
  for (const c of value) {
    if (c === null || typeof c !== "object") continue;
    const r = c as Record<string, unknown>;
    if (typeof r.name !== "string" || r.name === "" || seen.has(r.name)) continue;
    seen.add(r.name);
    out.push({
      name: r.name,
      label: typeof r.label === "string" && r.label !== "" ? r.label : r.name,
      options: Array.isArray(r.options) ? r.options.filter((o): o is string => typeof o === "string") : [],
    });
  }
  return out;
}

/** The option traits of `method` (none when it is not listed). */
export function optionsOf(choices: readonly MethodChoice[], method: string): string[] {
  return choices.find((c) => c.name === method)?.options ?? [];
}

/** The label of `method` (its name when it is not listed). */
export function labelOf(choices: readonly MethodChoice[], method: string): string {
  return choices.find((c) => c.name === method)?.label ?? method;
}

/** The method whose path scrubber, delta chart and completeness error exist. */
export const IG = "integrated_gradients";
/** The method whose maps carry an uncertainty map. */
export const SHAPLEY = "shapley";
