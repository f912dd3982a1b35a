/**
 * What a task needs besides its input: files a version ships beside its variants.
 * The port of contract/tasks/assets.py.
 *
 * The one place that says which asset plays which part, from the manifest:
 * `preprocess.tokenizer` is the text tasks' tokenizer, `fallback.lexicon` the
 * lexicon text classification falls back on. The runtime fetches what
 * `assetRoles` names (verified against the manifest's sha256), `loadAssets`
 * parses it once, and the task functions receive the result in `prepare` and
 * `finish`: they never fetch anything.
 */

import { Lexicon } from "./lexicon.js";
import { loadTokenizer, maxLength, type TextTokenizer, type TokenizerJson } from "./tokenization.js";

/** The parts of a manifest that name assets. */
export interface AssetNames {
  name?: string;
  preprocess: { tokenizer?: string; max_length?: number };
  fallback?: { lexicon?: unknown } | Record<string, unknown>;
}

export type AssetRole = "tokenizer" | "lexicon";

/** What the lexicon fallback needs: VADER's compound score of a text. */
export interface LexiconScorer {
  polarityScores(text: string): { compound: number };
}

/** Loaded assets: the tokenizer (text tasks) and VADER's lexicon (the fallback). */
export interface TaskAssets {
  tokenizer?: TextTokenizer;
  lexicon?: LexiconScorer;
}

/** The asset file of each part this manifest's task uses. */
export function assetRoles(manifest: AssetNames): Partial<Record<AssetRole, string>> {
  const roles: Partial<Record<AssetRole, string>> = {};
  const tokenizer = manifest.preprocess.tokenizer;
  if (typeof tokenizer === "string" && tokenizer) roles.tokenizer = tokenizer;
  const lexicon = (manifest.fallback as { lexicon?: unknown } | undefined)?.lexicon;
  if (typeof lexicon === "string" && lexicon) roles.lexicon = lexicon;
  return roles;
}

/** Parse the bytes of each asset `assetRoles` named (all of them must be there). */
export function loadAssets(
  manifest: AssetNames,
  bytes: Partial<Record<AssetRole, Uint8Array>>,
): TaskAssets {
  const roles = assetRoles(manifest);
  const text = (role: AssetRole): string => {
    const data = bytes[role];
    if (!data) throw new Error(`${manifest.name ?? "model"}: the ${role} asset ${roles[role]} was not fetched`);
    return new TextDecoder().decode(data);
  };
  const assets: TaskAssets = {};
  if (roles.tokenizer) {
    assets.tokenizer = loadTokenizer(JSON.parse(text("tokenizer")) as TokenizerJson, maxLength(manifest.preprocess));
  }
  if (roles.lexicon) assets.lexicon = Lexicon.parse(text("lexicon"));
  return assets;
}
