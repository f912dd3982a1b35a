/** The task registry covers every task the manifest schema allows, as contract/tasks/__init__.py does. */

import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { IMAGE_TASKS, TASKS, TEXT_TASKS, taskModule } from "../../src/tasks/index.js";
import { readGolden, REPO_ROOT } from "./golden.js";

const SCHEMA = JSON.parse(readFileSync(join(REPO_ROOT, "contract", "schemas", "manifest.schema.json"), "utf8")) as {
  properties: { task: { enum: string[] } };
};

describe("TASKS", () => {
  it("has one module per task of the manifest schema", () => {
    expect(Object.keys(TASKS).sort()).toEqual([...SCHEMA.properties.task.enum].sort());
    expect(new Set([...IMAGE_TASKS, ...TEXT_TASKS])).toEqual(new Set(Object.keys(TASKS)));
    expect([...IMAGE_TASKS].filter((t) => TEXT_TASKS.has(t))).toEqual([]);
  });

  it("gives every module prepare and finish", () => {
    for (const module of Object.values(TASKS)) {
      expect(typeof module.prepare).toBe("function");
      expect(typeof module.finish).toBe("function");
    }
  });

  it("names the known tasks for an unknown one", () => {
    expect(taskModule("face-detection")).toBe(TASKS["face-detection"]);
    expect(() => taskModule("segmentation")).toThrow(/known tasks: embeddings, face-detection/);
    expect(() => taskModule("toString")).toThrow(/unknown task/);
  });

  it("golden files are readable from here", () => {
    expect(readGolden<{ task: string }>("face_detection.json").task).toBe("face-detection");
  });
});
