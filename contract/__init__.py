"""The contract every part of browserml shares, and nothing else.

- ``manifest``: the manifest schema (``schemas/manifest.schema.json``), reading and
  validating manifests, and the verdict helpers (which variant passed on which backend,
  which one the server prefers);
- ``tasks``: the reference pre- and post-processing, one module per task (the browser's
  ``frontend/src/tasks/`` mirrors it module for module);
- ``versions`` and ``integrity``: where versions live on disk and when one is intact;
- ``native_runtime``: how native ONNX Runtime is set up wherever it runs;
- ``selfcheck``: the reference outputs a host re-checks when it loads a variant.

The host (``app``) and the pipeline (``convert``) import this package; it imports
neither of them.
"""
