/**
 * VADER sentiment scoring (Hutto & Gilbert, ICWSM 2014) in the browser: the
 * rule-based answer text classification falls back to when the model is
 * unsure. The server uses the `vaderSentiment` package 3.3.2
 * (contract/tasks/lexicon.py); this module reproduces its `polarity_scores` number
 * for number, held to it by tests/data/golden/lexicon.json.
 *
 * How a text is scored:
 * 1. Split on (Python's) whitespace; trim ASCII punctuation off each token
 *    unless that leaves two characters or fewer (so ":)" and "<3" survive).
 * 2. Each token found in the lexicon gets its mean human rating, adjusted by
 *    the rules below; every other token counts as a neutral 0.
 *    - "no" just before another lexicon word scores 0 and negates that word;
 *      "no" one to three words back (or "no X or/nor") negates.
 *    - An ALL-CAPS word, when not every token is, is pushed 0.733 further from 0.
 *    - Boosters and dampeners ("very", "kinda", ...) up to three words back add
 *      +-0.293 (scaled 1, 0.95, 0.9 by distance; +-0.733 more if ALL CAPS).
 *      They score 0 themselves, as does "kind" in "kind of".
 *    - A negation word (or any word containing "n't") up to three words back
 *      multiplies by -0.74, except "never so/this" (x1.25) and "without doubt"
 *      (unchanged). "least" negates unless it follows "at" or "very".
 *    - A few multi-word idioms ("the shit", "bad ass", "yeah right", ...)
 *      replace the valence outright; "kind of" and "sort of" dampen.
 *    - Words before the first "but" count half, words after it 1.5 times.
 * 3. The sum, pushed away from 0 by "!" (0.292 each, up to 4) and by "??"
 *    (0.18 each for 2 or 3, 0.96 for more), becomes `compound` = x / sqrt(x^2 + 15),
 *    rounded to 4 decimals; `pos`, `neg`, `neu` are the shares of positive,
 *    negative and neutral tokens (each non-neutral one weighted |valence| + 1),
 *    rounded to 3 decimals, Python's way (roundHalfEven).
 *
 * The package's quirks are kept on purpose, since the point is equal numbers:
 * the "but" rule rescales the *first* token whose value equals the one being
 * visited (Python's `list.index`), so repeated values can be rescaled twice
 * while later copies keep theirs; ALL-CAPS emphasis needs some, but not all,
 * tokens in ALL CAPS (a token without letters counts as not capitalised); the
 * idiom rules only run for words with three tokens before them. The package's list of sentiment-laden idioms without lexicon words
 * ("cut the mustard") is unused there ("future work") and absent here.
 *
 * Not done: the package first replaces each emoji character with its English
 * description from a second lexicon (emoji_utf8_lexicon.txt), which we do not
 * ship; the server turns that step off as well. Text containing emoji is
 * therefore scored as if the emoji were ordinary (unknown) characters, which
 * equals the server's answer but not the stock package's.
 */

import { roundHalfEven } from "./rounding.js";

/** VADER's four scores, rounded as the package rounds them. */
export interface PolarityScores {
  /** Share of negative sentiment, 0..1, 3 decimals. */
  neg: number;
  /** Share of neutral tokens, 0..1, 3 decimals. */
  neu: number;
  /** Share of positive sentiment, 0..1, 3 decimals. */
  pos: number;
  /** Normalised sum of all valences, -1..1, 4 decimals. */
  compound: number;
}

// Empirically derived constants of the paper.
const BOOST = 0.293;
const DAMPEN = -0.293;
const CAPS_EMPHASIS = 0.733;
const NEGATION = -0.74;
const NEVER_SO = 1.25;
const BUT_BEFORE = 0.5;
const BUT_AFTER = 1.5;
const NORMALISATION_ALPHA = 15;
const EXCLAMATION = 0.292;
const MAX_EXCLAMATIONS = 4;
const QUESTION = 0.18;
const MAX_QUESTION_EMPHASIS = 0.96;
/** Booster weight one, two and three words before the scored word. */
const BOOSTER_DISTANCE_WEIGHT = [1, 0.95, 0.9] as const;

/** Words that negate what follows them (VADER's list). */
const NEGATIONS: ReadonlySet<string> = new Set([
  "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt",
  "ain't", "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't",
  "dont", "hadnt", "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither",
  "don't", "hadn't", "hasn't", "haven't", "isn't", "mightn't", "mustn't",
  "neednt", "needn't", "never", "none", "nope", "nor", "not", "nothing", "nowhere",
  "oughtnt", "shant", "shouldnt", "uhuh", "wasnt", "werent",
  "oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't", "weren't",
  "without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom", "despite",
]);

/** Degree adverbs: intensity added (boosters) or removed (dampeners). */
const BOOSTERS: ReadonlyMap<string, number> = new Map([
  ...[
    "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
    "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
    "exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping",
    "flippin", "frackin", "fracking", "fricking", "frickin", "frigging", "friggin", "fully",
    "fuckin", "fucking", "fuggin", "fugging", "greatly", "hella", "highly", "hugely",
    "incredible", "incredibly", "intensely", "major", "majorly", "more", "most",
    "particularly", "purely", "quite", "really", "remarkably", "so", "substantially",
    "thoroughly", "total", "totally", "tremendous", "tremendously", "uber", "unbelievably",
    "unusually", "utter", "utterly", "very",
  ].map((word): [string, number] => [word, BOOST]),
  ...[
    "almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of",
    "less", "little", "marginal", "marginally", "occasional", "occasionally", "partly",
    "scarce", "scarcely", "slight", "slightly", "somewhat", "sort of", "sorta", "sortof",
    "sort-of",
  ].map((word): [string, number] => [word, DAMPEN]),
]);

/** Idioms and phrases whose valence replaces that of the lexicon word inside them. */
const SPECIAL_CASES: ReadonlyMap<string, number> = new Map([
  ["the shit", 3],
  ["the bomb", 3],
  ["bad ass", 1.5],
  ["badass", 1.5],
  ["bus stop", 0.0],
  ["yeah right", -2],
  ["kiss of death", -1.5],
  ["to die for", 3],
  ["beating heart", 3.5],
]);

/** What Python's `str.split()` splits on (Unicode whitespace as CPython defines it). */
const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
/** Python's `string.punctuation`. */
const PUNCTUATION: ReadonlySet<string> = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
const LOWER_OR_TITLE = /[\p{Lowercase}\p{Lt}]/u;
const UPPER = /\p{Uppercase}/u;

/** Python's `str.isupper()`: some cased character, and none lower- or titlecase. */
function isUpper(word: string): boolean {
  return UPPER.test(word) && !LOWER_OR_TITLE.test(word);
}

/** Python's `str.strip()` with no argument. */
function stripWhitespace(text: string): string {
  return text.replace(new RegExp(`^${WHITESPACE.source}`), "").replace(new RegExp(`${WHITESPACE.source}$`), "");
}

/** Length in code points, as Python's `len` counts. */
function codePointLength(text: string): number {
  return Array.from(text).length;
}

/** A token without leading and trailing punctuation, unless that leaves two characters or fewer. */
function trimPunctuation(token: string): string {
  let start = 0;
  let end = token.length;
  while (start < end && PUNCTUATION.has(token.charAt(start))) start++;
  while (end > start && PUNCTUATION.has(token.charAt(end - 1))) end--;
  const core = token.slice(start, end);
  return codePointLength(core) <= 2 ? token : core;
}

/** The words (and emoticons) of a text, as VADER tokenizes it. */
function tokenize(text: string): string[] {
  return text
    .split(WHITESPACE)
    .filter((token) => token.length > 0)
    .map(trimPunctuation);
}

/** Whether some, but not all, words are ALL CAPS (only then does capitalisation add emphasis). */
function mixedCapitals(words: readonly string[]): boolean {
  const capitalised = words.filter(isUpper).length;
  return capitalised > 0 && capitalised < words.length;
}

function isNegation(lowerWord: string): boolean {
  return NEGATIONS.has(lowerWord) || lowerWord.includes("n't");
}

function countOf(text: string, char: string): number {
  let n = 0;
  for (let at = text.indexOf(char); at !== -1; at = text.indexOf(char, at + 1)) n++;
  return n;
}

/** Extra intensity from "!" and from two or more "?". */
function punctuationEmphasis(text: string): number {
  const exclamations = Math.min(countOf(text, "!"), MAX_EXCLAMATIONS) * EXCLAMATION;
  const questionMarks = countOf(text, "?");
  let questions = 0;
  if (questionMarks > 3) questions = MAX_QUESTION_EMPHASIS;
  else if (questionMarks > 1) questions = questionMarks * QUESTION;
  return exclamations + questions;
}

/** Map a raw sum into (-1, 1); alpha approximates the largest expected sum. */
function normalize(score: number): number {
  const norm = score / Math.sqrt(score * score + NORMALISATION_ALPHA);
  return Math.min(1, Math.max(-1, norm));
}

/** Python's `float()` on a lexicon field, strict enough to catch a malformed file. */
function parseFloatField(field: string, line: number): number {
  const trimmed = stripWhitespace(field);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) {
    throw new Error(`lexicon line ${line}: the mean rating ${JSON.stringify(field)} is not a number`);
  }
  return Number(trimmed);
}

/** A token sequence being scored: original spelling, lower case, and its capitalisation mix. */
interface Tokens {
  words: readonly string[];
  lower: readonly string[];
  mixedCapitals: boolean;
}

/** VADER's sentiment lexicon and its scoring rules. */
export class Lexicon {
  private constructor(private readonly valences: ReadonlyMap<string, number>) {}

  /**
   * Read the text of vader_lexicon.txt: one `word<TAB>mean<TAB>std<TAB>ratings`
   * line per token (only the first two fields are used; a repeated word keeps
   * its last rating, as in the package).
   */
  static parse(text: string): Lexicon {
    const valences = new Map<string, number>();
    const lines = text.replace(/\n+$/, "").split("\n");
    lines.forEach((line, index) => {
      if (line.length === 0) return;
      const fields = stripWhitespace(line).split("\t");
      const [word, mean] = fields;
      if (word === undefined || mean === undefined) {
        throw new Error(`lexicon line ${index + 1}: expected word<TAB>mean<TAB>std<TAB>ratings`);
      }
      valences.set(word, parseFloatField(mean, index + 1));
    });
    return new Lexicon(valences);
  }

  /** VADER's scores of `text`, equal to the package's `polarity_scores` (emoji step aside). */
  polarityScores(text: string): PolarityScores {
    const words = tokenize(text);
    const tokens: Tokens = {
      words,
      lower: words.map((word) => word.toLowerCase()),
      mixedCapitals: mixedCapitals(words),
    };
    const sentiments = words.map((_, i) => this.tokenValence(tokens, i));
    applyBut(tokens.lower, sentiments);
    return scores(sentiments, text);
  }

  private has(lowerWord: string | undefined): boolean {
    return lowerWord !== undefined && this.valences.has(lowerWord);
  }

  /** The valence of token `i` in context (0 for words outside the lexicon and for modifiers). */
  private tokenValence(tokens: Tokens, i: number): number {
    const { words, lower } = tokens;
    const word = lower[i]!;
    if (BOOSTERS.has(word)) return 0;
    if (word === "kind" && lower[i + 1] === "of") return 0;
    const rating = this.valences.get(word);
    if (rating === undefined) return 0;

    let valence = rating;
    // "no" right before a lexicon word negates that word instead of counting itself.
    if (word === "no" && this.has(lower[i + 1])) valence = 0;
    if (
      (i > 0 && lower[i - 1] === "no") ||
      (i > 1 && lower[i - 2] === "no") ||
      (i > 2 && lower[i - 3] === "no" && (lower[i - 1] === "or" || lower[i - 1] === "nor"))
    ) {
      valence = rating * NEGATION;
    }
    if (tokens.mixedCapitals && isUpper(words[i]!)) {
      valence = valence > 0 ? valence + CAPS_EMPHASIS : valence - CAPS_EMPHASIS;
    }

    // Up to three preceding words that are not lexicon words themselves.
    for (let distance = 1; distance <= 3 && distance <= i; distance++) {
      if (this.has(lower[i - distance])) continue;
      let scalar = boosterScalar(words[i - distance]!, valence, tokens.mixedCapitals);
      if (scalar !== 0) scalar *= BOOSTER_DISTANCE_WEIGHT[distance - 1]!;
      valence = valence + scalar;
      valence = negationAt(valence, lower, i, distance);
      if (distance === 3) valence = specialIdioms(valence, lower, i);
    }

    // "least X" negates X, but "at least X" and "very least X" do not.
    if (i > 0 && lower[i - 1] === "least" && !this.has("least")) {
      if (i === 1 || (lower[i - 2] !== "at" && lower[i - 2] !== "very")) valence = valence * NEGATION;
    }
    return valence;
  }
}

/** What a booster or dampener `word` adds to a word of valence `valence` (0 if it is neither). */
function boosterScalar(word: string, valence: number, mixedCaps: boolean): number {
  const boost = BOOSTERS.get(word.toLowerCase());
  if (boost === undefined) return 0;
  let scalar = valence < 0 ? -boost : boost;
  if (mixedCaps && isUpper(word)) {
    scalar = valence > 0 ? scalar + CAPS_EMPHASIS : scalar - CAPS_EMPHASIS;
  }
  return scalar;
}

/** Negation by the word `distance` (1..3) places before token `i`, with its exceptions. */
function negationAt(valence: number, lower: readonly string[], i: number, distance: number): number {
  const at = (back: number): string => lower[i - back]!;
  const soOrThis = (word: string): boolean => word === "so" || word === "this";
  if (distance === 1) {
    return isNegation(at(1)) ? valence * NEGATION : valence;
  }
  if (distance === 2) {
    if (at(2) === "never" && soOrThis(at(1))) return valence * NEVER_SO;
    if (at(2) === "without" && at(1) === "doubt") return valence;
    return isNegation(at(2)) ? valence * NEGATION : valence;
  }
  // As in the package, "so"/"this" right before the word counts here even without "never".
  if ((at(3) === "never" && soOrThis(at(2))) || soOrThis(at(1))) return valence * NEVER_SO;
  if (at(3) === "without" && (at(2) === "doubt" || at(1) === "doubt")) return valence;
  return isNegation(at(3)) ? valence * NEGATION : valence;
}

/** Idioms around token `i` (which has at least three tokens before it). */
function specialIdioms(valence: number, lower: readonly string[], i: number): number {
  const span = (from: number, to: number): string => lower.slice(i + from, i + to + 1).join(" ");
  const before = [span(-1, 0), span(-2, 0), span(-2, -1), span(-3, -1), span(-3, -2)];
  const match = before.find((phrase) => SPECIAL_CASES.has(phrase));
  if (match !== undefined) valence = SPECIAL_CASES.get(match)!;
  if (i + 1 < lower.length) valence = SPECIAL_CASES.get(span(0, 1)) ?? valence;
  if (i + 2 < lower.length) valence = SPECIAL_CASES.get(span(0, 2)) ?? valence;
  // Two-word dampeners such as "kind of" and "sort of" just before the word.
  for (const phrase of [span(-3, -1), span(-3, -2), span(-2, -1)]) {
    const boost = BOOSTERS.get(phrase);
    if (boost !== undefined) valence = valence + boost;
  }
  return valence;
}

/**
 * The contrastive "but": halve what comes before the first "but", weight what
 * follows by 1.5. Each visited value rescales the first equal value in the
 * list, exactly as the package's `sentiments.index(sentiment)` does.
 */
function applyBut(lower: readonly string[], sentiments: number[]): void {
  const but = lower.indexOf("but");
  if (but === -1) return;
  for (let k = 0; k < sentiments.length; k++) {
    const value = sentiments[k]!;
    const first = sentiments.indexOf(value);
    if (first < but) sentiments[first] = value * BUT_BEFORE;
    else if (first > but) sentiments[first] = value * BUT_AFTER;
  }
}

/** Compound and proportions from the per-token valences. */
function scores(sentiments: readonly number[], text: string): PolarityScores {
  if (sentiments.length === 0) return { neg: 0, neu: 0, pos: 0, compound: 0 };

  const emphasis = punctuationEmphasis(text);
  let sum = 0;
  for (const value of sentiments) sum += value;
  if (sum > 0) sum += emphasis;
  else if (sum < 0) sum -= emphasis;
  const compound = normalize(sum);

  // Each non-neutral token weighs |valence| + 1, each neutral token 1.
  let positive = 0;
  let negative = 0;
  let neutral = 0;
  for (const value of sentiments) {
    if (value > 0) positive += value + 1;
    if (value < 0) negative += value - 1;
    if (value === 0) neutral += 1;
  }
  if (positive > Math.abs(negative)) positive += emphasis;
  else if (positive < Math.abs(negative)) negative -= emphasis;

  const total = positive + Math.abs(negative) + neutral;
  return {
    neg: roundHalfEven(Math.abs(negative / total), 3),
    neu: roundHalfEven(Math.abs(neutral / total), 3),
    pos: roundHalfEven(Math.abs(positive / total), 3),
    compound: roundHalfEven(compound, 4),
  };
}
