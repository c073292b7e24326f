"""Reads a safetensors file as another tool would, with NumPy only, and prints what it holds as JSON.

Format: an 8-byte little-endian header length, a JSON header ({name: {dtype, shape,
data_offsets}} and an optional "__metadata__" of strings), then the raw little-endian data.
For each tensor: its shape, dtype, sha256 of its float32 little-endian bytes, and its sum.
"""
import hashlib
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "I32": "<i4"}


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len :]
    out = {"metadata": header.pop("__metadata__", {}), "tensors": {}, "order": []}
    ends = []
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        ends.append((begin, end))
        out["tensors"][name] = {
            "shape": list(arr.shape),
            "dtype": entry["dtype"],
            "sha256": hashlib.sha256(arr.astype("<f4").tobytes()).hexdigest(),
            "sum": float(arr.astype(np.float64).sum()),
        }
    # The data region is covered exactly, without gaps or overlaps.
    ends.sort()
    covered = 0
    for begin, end in ends:
        if begin != covered:
            raise SystemExit(f"gap or overlap at byte {begin} (expected {covered})")
        covered = end
    if covered != len(data):
        raise SystemExit(f"data region is {len(data)} bytes, tensors cover {covered}")
    out["order"] = [name for name, _ in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
