/**
 * GENERATED FILE, do not edit: types from contract/schemas/pipeline.schema.json
 * by frontend/scripts/manifest_types.mjs (json-schema-to-typescript).
 * Change the schema, then regenerate: cd frontend && npm run types
 * (`npm run types:check`, run by `make test`, fails when this file is out of date.)
 */

/**
 * A chain of catalog models answered as one (models/pipelines/<name>.json, from models/catalog/pipelines/<name>.toml).
 */
export interface PipelineManifest {
  schema_version: 1;
  name: string;
  description: string;
  /**
   * detect-then-classify: every box the detector finds is cropped and classified
   */
  kind: "detect-then-classify";
  /**
   * a face-detection model of the catalog
   */
  detector: string;
  /**
   * an image-classification model of the catalog
   */
  classifier: string;
  /**
   * the key each detection's classification is stored under
   */
  attach_as: string;
  crop: {
    /**
     * each side of a box grows by this fraction of its size
     */
    margin: number;
  };
}
