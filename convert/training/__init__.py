"""Small models trained during conversion, from data carried by registry packages.

``sentiment`` fits a logistic-regression head on all-MiniLM-L6-v2 sentence
embeddings of the VADER human-rated snippets and writes it as plain ONNX.
"""
