/**
 * The manifest's TypeScript types, generated from its JSON Schema (one source of truth):
 *
 *   node scripts/manifest_types.mjs           writes src/tasks/manifest.generated.ts, pipeline.generated.ts
 *   node scripts/manifest_types.mjs --check   fails when one is out of date (CI: make test)
 *
 * From contract/schemas/{manifest,pipeline}.schema.json (TARGETS), with json-schema-to-typescript (pinned in
 * package.json). Type names come from the schema's `title`s; the root, titled in words there,
 * is named `Manifest` here (typescriptView below says what else differs). An object that does not say `additionalProperties` is a closed
 * interface in TypeScript (the keys the schema names), while the schema itself leaves it open
 * for the validators; `additionalProperties: true` gives an index signature. The output has no
 * timestamp and every formatting option is fixed, so the same schema gives the same bytes.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { compile } from "json-schema-to-typescript";

const FRONTEND = join(dirname(fileURLToPath(import.meta.url)), "..");
const REPO = join(FRONTEND, "..");
const SCHEMAS = join(REPO, "contract", "schemas");
const COMMAND = "cd frontend && npm run types";
// Each schema of the contract and the TypeScript it becomes (root type name, file).
const TARGETS = [
  {
    schema: join(SCHEMAS, "manifest.schema.json"),
    root: "Manifest",
    output: join(FRONTEND, "src", "tasks", "manifest.generated.ts"),
    // Facts the schema states for code, not for validation: what each task takes.
    constants: (schema) =>
      `\n/** What each task takes (the schema's x-task-inputs). */\n` +
      `export const TASK_INPUTS = ${JSON.stringify(schema["x-task-inputs"])} as const satisfies Record<TaskName, "image" | "text">;\n`,
  },
  { schema: join(SCHEMAS, "pipeline.schema.json"), root: "PipelineManifest", output: join(FRONTEND, "src", "tasks", "pipeline.generated.ts") },
];

const rel = (path) => relative(REPO, path).split("\\").join("/");

const banner = (schema) => `/**
 * GENERATED FILE, do not edit: types from ${rel(schema)}
 * by frontend/scripts/manifest_types.mjs (json-schema-to-typescript).
 * Change the schema, then regenerate: ${COMMAND}
 * (\`npm run types:check\`, run by \`make test\`, fails when this file is out of date.)
 */`;

const OPTIONS = {
  // Closed interfaces where the schema does not say (see above).
  additionalProperties: false,
  declareExternallyReferenced: true,
  enableConstEnums: true,
  format: true,
  ignoreMinAndMaxItems: false,
  inferStringEnumKeysFromValues: false,
  maxItems: 20,
  strictIndexSignatures: false,
  unknownAny: true,
  unreachableDefinitions: false,
  style: {
    parser: "typescript",
    printWidth: 120,
    tabWidth: 2,
    useTabs: false,
    semi: true,
    singleQuote: false,
    quoteProps: "as-needed",
    trailingComma: "all",
    bracketSpacing: true,
    arrowParens: "always",
    endOfLine: "lf",
  },
};

/**
 * The schema as TypeScript should see it. A `minItems` without a `maxItems` ("at least one
 * input") stays an array type, not a non-empty tuple `[T, ...T[]]` that every built or mapped
 * list would have to prove: that is the validators' check. Fixed lengths (`size`: two items)
 * stay tuples.
 */
function typescriptView(node) {
  if (Array.isArray(node)) return node.map(typescriptView);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "minItems" && !("maxItems" in node)) continue;
    out[key] = typescriptView(value);
  }
  return out;
}

async function generate({ schema, root, constants }) {
  const raw = JSON.parse(readFileSync(schema, "utf8"));
  const parsed = typescriptView(raw);
  // A root's title is a phrase ("browserml model manifest"); the type is `root`.
  const types = await compile({ ...parsed, title: root }, root, { ...OPTIONS, bannerComment: banner(schema), cwd: dirname(schema) });
  return constants ? types + constants(raw) : types;
}

async function main(args) {
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(`usage: node scripts/manifest_types.mjs [--check] (unknown: ${unknown.join(" ")})`);
    return 2;
  }
  let status = 0;
  for (const target of TARGETS) {
    const text = await generate(target);
    if (args.includes("--check")) {
      let current = null;
      try {
        current = readFileSync(target.output, "utf8");
      } catch {
        // missing: out of date
      }
      if (current !== text) {
        console.error(`${rel(target.output)} is out of date with ${rel(target.schema)}; run: ${COMMAND}`);
        status = 1;
      } else {
        console.log(`${rel(target.output)} is up to date with ${rel(target.schema)}`);
      }
      continue;
    }
    writeFileSync(target.output, text);
    console.log(`wrote ${rel(target.output)} from ${rel(target.schema)}`);
  }
  return status;
}

process.exitCode = await main(process.argv.slice(2));
