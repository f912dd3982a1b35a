"""browserml conversion pipeline: recipes in, verified ONNX variants and manifests out."""
