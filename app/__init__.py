"""browserml host: serves verified ONNX artifacts and answers server-side.

``app.tasks`` holds the reference pre/post-processing shared by the conversion
pipeline's evaluation and the server fallback.
"""
