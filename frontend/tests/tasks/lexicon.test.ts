/**
 * VADER in the browser (src/tasks/lexicon.ts) against the Python package:
 * every case of tests/data/golden/lexicon.json (written by
 * make_lexicon_goldens.py from vaderSentiment 3.3.2), scored with the
 * package's own vader_lexicon.txt from the project's virtualenv.
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { Lexicon, type PolarityScores } from "../../src/tasks/lexicon.js";
import { readGolden, REPO_ROOT } from "./golden.js";

const LEXICON_PATH = join(REPO_ROOT, ".venv/lib/python3.11/site-packages/vaderSentiment/vader_lexicon.txt");
const KEYS = ["neg", "neu", "pos", "compound"] as const;
const TOLERANCE = 1e-4;

interface LexiconCase {
  id: string;
  group: string;
  text: string;
  expected: PolarityScores;
}

interface LexiconGolden {
  package: string;
  cases: LexiconCase[];
}

function loadLexicon(): Lexicon {
  if (!existsSync(LEXICON_PATH)) {
    throw new Error(`${LEXICON_PATH} is missing (the vaderSentiment package in .venv); run make setup`);
  }
  return Lexicon.parse(readFileSync(LEXICON_PATH, "utf8"));
}

const golden = readGolden<LexiconGolden>("lexicon.json");
const lexicon = loadLexicon();

describe(`VADER lexicon scores match ${golden.package}`, () => {
  it.each(golden.cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    const actual = lexicon.polarityScores(c.text);
    for (const key of KEYS) {
      const diff = Math.abs(actual[key] - c.expected[key]);
      expect(diff, `${key} of ${JSON.stringify(c.text)}: ${actual[key]} vs ${c.expected[key]}`).toBeLessThanOrEqual(
        TOLERANCE,
      );
    }
  });

  it("rounds as the package does, so every score is equal digit for digit", () => {
    const differing = golden.cases.filter((c) => KEYS.some((key) => lexicon.polarityScores(c.text)[key] !== c.expected[key]));
    expect(differing.map((c) => c.id)).toEqual([]);
  });

  it("covers the real snippets of every domain and each rule", () => {
    const groups = new Set(golden.cases.map((c) => c.group));
    for (const domain of ["movies", "tweets", "amazon", "nyt"]) expect(groups).toContain(domain);
    expect(golden.cases.length).toBeGreaterThanOrEqual(250);
  });
});

describe("Lexicon.parse", () => {
  it("reads word<TAB>mean lines, tolerates CRLF and keeps the last of a repeated word", () => {
    const small = Lexicon.parse("good\t1.9\t0.9\t[2, 2]\r\nbad\t-2.5\t0.7\t[-3, -2]\r\ngood\t3.1\t0.5\t[3, 3]\n\n");
    expect(small.polarityScores("good").compound).toBe(0.6249); // 3.1 / sqrt(3.1^2 + 15)
    expect(small.polarityScores("bad").compound).toBe(-0.5423);
    expect(small.polarityScores("ugly").compound).toBe(0);
  });

  it("refuses a line without a rating", () => {
    expect(() => Lexicon.parse("good\t1.9\nbroken\n")).toThrow(/line 2/);
    expect(() => Lexicon.parse("good\tvery\n")).toThrow(/line 1.*not a number/);
  });

  it("scores text without words as all zeros", () => {
    expect(lexicon.polarityScores("")).toEqual({ neg: 0, neu: 0, pos: 0, compound: 0 });
    expect(lexicon.polarityScores(" \t\n")).toEqual({ neg: 0, neu: 0, pos: 0, compound: 0 });
  });
});
