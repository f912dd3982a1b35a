/**
 * One backbone download: a composed model (sentiment = the text-embedder + a small head) run in
 * the browser as the backbone model's own variant file, then the head.
 *
 * The manifest's `backbone` section (convert/backbone.py) names, per composed variant, the
 * backbone model's variant file and its sha256, measured in ORT Web and gated like the variant;
 * the host adds each file's URL, or null and `unavailable` (`GET /api/v1/models/<name>`). The
 * backbone is fetched by its sha256, so its Cache Storage entry and, in the worker, its session
 * are the ones of the backbone model itself: a page that runs both downloads it once.
 *
 * A pure function of the manifest, so it is unit-tested without a browser. When the split cannot
 * be used, the plan says why, and the composed variant is loaded (`model.backbone` is then null
 * and `model.reason` says why).
 */

import type { BackboneSplit, Manifest } from "../tasks/types.js";
import type { ArtifactRef } from "./artifacts.js";
import type { Backend } from "./backends.js";

/** The `backbone` section as the host serves it: with URLs. */
export type BackboneWithUrls = Omit<NonNullable<Manifest["backbone"]>, "head" | "splits"> & {
  head: NonNullable<Manifest["backbone"]>["head"] & { url: string };
  splits: Array<BackboneSplit & { backbone_url: string | null; unavailable?: string }>;
};

/** What the worker needs to run backbone then head. */
export interface SplitLoad {
  backbone: ArtifactRef;
  head: ArtifactRef;
  /** The backbone output fed to the head, and the head's input name. */
  output: string;
  headInput: string;
}

/** Which backbone file a model runs on (`model.backbone`). */
export interface BackboneUse {
  model: string;
  version: number;
  file: string;
  sha256: string;
}

export type SplitPlan =
  | { use: SplitLoad; backbone: BackboneUse; reason: string }
  | { use: null; backbone: null; reason: string | null };

/**
 * Backbone + head for `variant` on `backend`, or why not (null reason: the manifest names no
 * backbone). `host` is prefixed to the host's root-relative URLs.
 */
export function planSplit(
  manifest: { name: string; backbone?: unknown },
  variant: string,
  backend: Backend,
  host: string,
): SplitPlan {
  const section = manifest.backbone as BackboneWithUrls | undefined;
  if (!section) return { use: null, backbone: null, reason: null };
  const notUsed = (why: string): SplitPlan => ({
    use: null,
    backbone: null,
    reason: `the composed ${variant} (${manifest.name}'s backbone ${section.model} v${section.version} is not used: ${why})`,
  });
  const split = section.splits.find((s) => s.variant === variant);
  if (!split) return notUsed(`no split is listed for ${variant}`);
  if (backend === "server" || !split.backends.includes(backend)) return notUsed(`the split does not suit ${backend}`);
  if (!split.gates[backend]?.passed) {
    return notUsed(`the split did not pass its gates on ${backend}: ${(split.gates[backend]?.reasons ?? []).join("; ") || "not judged"}`);
  }
  if (!split.backbone_url) return notUsed(split.unavailable ?? "the host serves no URL for it");
  if (!section.head.url) return notUsed(`the host serves no URL for ${section.head.file}`);
  const backbone: BackboneUse = {
    model: section.model,
    version: section.version,
    file: split.backbone_file,
    sha256: split.backbone_sha256,
  };
  return {
    use: {
      backbone: { file: `${section.model}/${split.backbone_file}`, url: host + split.backbone_url, sha256: split.backbone_sha256, bytes: split.backbone_bytes },
      head: { file: section.head.file, url: host + section.head.url, sha256: section.head.sha256, bytes: section.head.bytes },
      output: section.output,
      headInput: section.head.input,
    },
    backbone,
    reason: `${section.model} v${section.version} ${split.backbone_file} + ${section.head.file} (the backbone shared with ${section.model})`,
  };
}

/**
 * Reference counts of shared things by key (sessions by sha256): `acquire` makes the thing once
 * and counts every user, `release` frees it when the last user is gone. Creation that fails is
 * forgotten, so the next `acquire` tries again.
 */
export class SharedPool<T> {
  private readonly entries = new Map<string, { value: Promise<T>; refs: number }>();

  constructor(private readonly free: (value: T) => Promise<void>) {}

  /** The value for `key` (made by `make` if no one holds it), and whether it was already there. */
  acquire(key: string, make: () => Promise<T>): { value: Promise<T>; shared: boolean } {
    const found = this.entries.get(key);
    if (found) {
      found.refs += 1;
      return { value: found.value, shared: true };
    }
    const entry = { value: make(), refs: 1 };
    this.entries.set(key, entry);
    entry.value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return { value: entry.value, shared: false };
  }

  /** One user fewer; the last one frees the value. */
  async release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    this.entries.delete(key);
    const value = await entry.value.catch(() => null);
    if (value !== null) await this.free(value);
  }

  /** How many users hold `key` (0: not held). */
  refs(key: string): number {
    return this.entries.get(key)?.refs ?? 0;
  }
}
