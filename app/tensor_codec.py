"""Tensors of the Open Inference Protocol (KServe V2): datatypes, JSON data and binary data.

JSON tensors carry ``data`` as a flat (or nested, row-major) list; BYTES
elements are strings. The binary tensor data extension (what tritonclient
sends by default) puts raw little-endian bytes after the JSON header, whose
length is in the ``Inference-Header-Content-Length`` header; BYTES elements
are then each a 4-byte little-endian length followed by the bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from app.errors import ApiError

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
# Manifest dtypes (numpy names) and ONNX Runtime's type strings -> V2 datatypes.
FROM_NUMPY = {str(dtype): name for name, dtype in DATATYPES.items() if name != "BYTES"}
FROM_NUMPY["object"] = "BYTES"
FROM_NUMPY["string"] = "BYTES"


def v2_datatype(dtype: str) -> str:
    """The V2 datatype of a manifest dtype such as ``float32``."""
    try:
        return FROM_NUMPY[dtype]
    except KeyError:
        raise ValueError(f"dtype {dtype!r} has no V2 datatype") from None


def check_shape(shape: Any, where: str) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ApiError(422, f"{where}.shape must be an array of non-negative integers, got {shape!r}.")
    return shape


def decode_json_tensor(spec: dict[str, Any], where: str) -> np.ndarray:
    """A tensor from its JSON ``data`` (flat or nested), checked against ``shape`` and ``datatype``."""
    datatype, shape = spec["datatype"], spec["shape"]
    if "data" not in spec:
        raise ApiError(422, f"{where} has no 'data' (and no binary_data_size parameter).")
    data = spec["data"]
    count = int(np.prod(shape, dtype=np.int64))
    try:
        if datatype == "BYTES":
            flat = _flatten(data)
            if not all(isinstance(v, str) for v in flat):
                raise ValueError("BYTES data must be strings")
            array = np.array([v.encode("utf-8") for v in flat], dtype=np.object_)
        elif datatype == "BOOL":
            flat = _flatten(data)
            if not all(isinstance(v, bool) for v in flat):
                raise ValueError("BOOL data must be true or false")
            array = np.array(flat, dtype=np.bool_)
        else:
            flat = _flatten(data)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
                raise ValueError(f"{datatype} data must be numbers")
            if datatype.startswith("FP"):
                array = np.array(flat, dtype=np.float64).astype(DATATYPES[datatype])
            else:
                # Check integers as Python ints: int64 cannot hold UINT64's upper half, and a
                # float (1.5) must not be truncated silently.
                if not all(isinstance(v, int) for v in flat):
                    raise ValueError(f"{datatype} data must be integers")
                info = np.iinfo(DATATYPES[datatype])
                if flat and (min(flat) < info.min or max(flat) > info.max):
                    raise ValueError(f"values out of the {datatype} range [{info.min}, {info.max}]")
                array = np.array(flat, dtype=DATATYPES[datatype])
    except (ValueError, TypeError, OverflowError) as err:
        raise ApiError(422, f"{where}.data: {err}.") from None
    if array.size != count:
        raise ApiError(422, f"{where} has {array.size} values but shape {shape} needs {count}.")
    return array.reshape(shape)


def decode_binary_tensor(spec: dict[str, Any], raw: bytes, where: str) -> np.ndarray:
    """A tensor from its raw bytes (binary tensor data extension)."""
    datatype, shape = spec["datatype"], spec["shape"]
    count = int(np.prod(shape, dtype=np.int64))
    if datatype == "BYTES":
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise ApiError(422, f"{where}: BYTES data is cut inside a length prefix.")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise ApiError(422, f"{where}: BYTES element longer than the data left.")
            items.append(raw[offset:offset + length])
            offset += length
        if len(items) != count:
            raise ApiError(422, f"{where} has {len(items)} BYTES elements but shape {shape} needs {count}.")
        return np.array(items, dtype=np.object_).reshape(shape)
    dtype = DATATYPES[datatype].newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise ApiError(422, f"{where} has {len(raw)} bytes but shape {shape} of {datatype} needs "
                            f"{count * dtype.itemsize}.")
    return np.frombuffer(raw, dtype=dtype).astype(DATATYPES[datatype]).reshape(shape)


def encode_binary(array: np.ndarray, datatype: str) -> bytes:
    """Raw bytes of ``array`` for the binary tensor data extension."""
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            value = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(struct.pack("<I", len(value)) + value)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype].newbyteorder("<")).tobytes()


def encode_json_data(array: np.ndarray, datatype: str) -> list[Any]:
    """``array`` as a flat JSON list."""
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError(f"expected an array, got {type(data).__name__}")
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out
