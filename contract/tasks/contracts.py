"""Task-level request and response schemas (JSON Schema), one pair per task.

The manifest carries them so a client knows what ``predict`` takes and returns
without reading this code; the host validates requests against them.
"""

from __future__ import annotations

from typing import Any

_LABELS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["label", "score"],
        "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
    },
}
_IMAGE_REQUEST = {
    "description": "multipart/form-data with a file field 'image', or JSON {\"image\": \"<base64>\"}",
    "type": "object",
    "required": ["image"],
    "properties": {"image": {"type": "string", "contentEncoding": "base64"}},
}
_TEXT_REQUEST = {
    "type": "object",
    "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "texts": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    },
}

_TEXT_RESULT = {
    "type": "object",
    "required": ["labels", "uncertain", "fallback"],
    "properties": {
        "labels": _LABELS,
        "uncertain": {"type": "boolean"},
        "fallback": {"type": ["string", "null"], "enum": [None, "lexicon"]},
    },
}

CONTRACTS: dict[str, dict[str, Any]] = {
    "image-classification": {
        "request": _IMAGE_REQUEST,
        "response": {
            "type": "object",
            "required": ["labels", "uncertain"],
            "properties": {"labels": _LABELS, "uncertain": {"type": "boolean"}},
        },
    },
    "face-detection": {
        "request": _IMAGE_REQUEST,
        "response": {
            "type": "object",
            "required": ["faces"],
            "properties": {
                "faces": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["box", "score", "keypoints"],
                        "properties": {
                            "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                            "score": {"type": "number"},
                            "keypoints": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        },
                    },
                }
            },
        },
    },
    "text-classification": {
        "request": _TEXT_REQUEST,
        # One text gives one result; a list ("texts") gives {"results": [one per text]}.
        "response": {"oneOf": [_TEXT_RESULT, {
            "type": "object",
            "required": ["results"],
            "properties": {"results": {"type": "array", "items": _TEXT_RESULT}},
        }]},
    },
    "embeddings": {
        "request": _TEXT_REQUEST,
        "response": {
            "type": "object",
            "oneOf": [{"required": ["embedding"]}, {"required": ["embeddings"]}],
            "properties": {
                "embedding": {"type": "array", "items": {"type": "number"}},
                "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            },
        },
    },
}
