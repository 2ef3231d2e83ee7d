#!/usr/bin/env python3
"""Parse a safetensors file without the safetensors package and print its tensors.

Usage: load_safetensors.py [--sum] [--metadata] [--backend auto|stdlib|numpy|torch] FILE

Prints one line per tensor, in name order:  NAME<TAB>DTYPE<TAB>SHAPE
where SHAPE is a JSON list such as [2,3] ([] for a scalar). With --sum a fourth
column holds the sum of the elements (repr of a Python float; integers exactly).
With --metadata, lines "__metadata__<TAB>KEY<TAB>VALUE" come first.

The file is checked the way sinklab's Go reader checks it (8-byte little-endian
header length, JSON object header, data_offsets tiling the data area exactly,
byte counts matching dtype and shape); a bad file exits with status 1 and a
message on stderr. Needs only the standard library; numpy or torch are used for
the sums when importable (--backend auto picks torch, then numpy, then stdlib).
"""

import argparse
import json
import math
import struct
import sys

# dtype -> (struct code, bytes per element, numpy dtype, torch dtype name)
DTYPES = {
    "F64": ("d", 8, "<f8", "float64"),
    "F32": ("f", 4, "<f4", "float32"),
    "F16": ("e", 2, "<f2", "float16"),
    "I64": ("q", 8, "<i8", "int64"),
    "I32": ("i", 4, "<i4", "int32"),
    "I16": ("h", 2, "<i2", "int16"),
    "I8": ("b", 1, "i1", "int8"),
    "U8": ("B", 1, "u1", "uint8"),
    "BOOL": ("?", 1, "?", "bool"),
}


class BadFile(Exception):
    pass


def read_header(data):
    """Return (tensors, metadata, data_start) for the bytes of a safetensors file."""
    if len(data) < 8:
        raise BadFile("file has %d bytes, fewer than the 8-byte header length" % len(data))
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise BadFile("header length %d exceeds the %d bytes after the prefix" % (n, len(data) - 8))
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        raise BadFile("header does not start with '{'")

    def no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise BadFile("duplicate key %r" % k)
            seen[k] = v
        return seen

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadFile("invalid JSON header: %s" % e)
    if not isinstance(header, dict):
        raise BadFile("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BadFile("__metadata__ is not a string-to-string object")

    data_len = len(data) - 8 - n
    tensors = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise BadFile("tensor %r: want exactly dtype, shape, data_offsets" % name)
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise BadFile("tensor %r: unknown dtype %r" % (name, dtype))
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise BadFile("tensor %r: bad shape %r" % (name, shape))
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise BadFile("tensor %r: bad data_offsets %r" % (name, offsets))
        tensors.append((name, dtype, shape, offsets[0], offsets[1]))

    nxt = 0
    for name, dtype, shape, begin, end in sorted(tensors, key=lambda t: (t[3], t[4])):
        if end < begin or begin != nxt:
            raise BadFile("tensor %r: data_offsets [%d,%d] overlap or leave a gap at %d" % (name, begin, end, nxt))
        need = math.prod(shape) * DTYPES[dtype][1]
        if end - begin != need:
            raise BadFile("tensor %r: %d bytes for %s %r, want %d" % (name, end - begin, dtype, shape, need))
        nxt = end
    if nxt > data_len:
        raise BadFile("data_offsets reach byte %d of a %d-byte data area (truncated?)" % (nxt, data_len))
    if nxt < data_len:
        raise BadFile("data area has %d bytes but tensors cover %d" % (data_len, nxt))
    return sorted(tensors), metadata, 8 + n


def tensor_sum(buf, dtype, count, backend):
    code, size, np_dtype, torch_dtype = DTYPES[dtype]
    if backend == "torch":
        import torch
        t = torch.frombuffer(bytearray(buf), dtype=getattr(torch, torch_dtype)) if count else torch.zeros(0)
        return t.double().sum().item() if dtype[0] == "F" else int(t.long().sum().item())
    if backend == "numpy":
        import numpy as np
        a = np.frombuffer(buf, dtype=np_dtype, count=count)
        return float(a.astype(np.float64).sum()) if dtype[0] == "F" else int(a.astype(np.int64).sum())
    values = struct.unpack("<%d%s" % (count, code), buf)
    return math.fsum(values) if dtype[0] == "F" else int(sum(values))


def pick_backend(name):
    if name != "auto":
        return name
    for mod in ("torch", "numpy"):
        try:
            __import__(mod)
            return mod
        except ImportError:
            pass
    return "stdlib"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--sum", action="store_true", help="print the sum of each tensor's elements")
    ap.add_argument("--metadata", action="store_true", help="print the __metadata__ entries first")
    ap.add_argument("--backend", default="auto", choices=["auto", "stdlib", "numpy", "torch"])
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    try:
        tensors, metadata, start = read_header(data)
    except BadFile as e:
        print("%s: %s" % (args.file, e), file=sys.stderr)
        return 1
    backend = pick_backend(args.backend)
    if args.metadata:
        for k in sorted(metadata):
            print("__metadata__\t%s\t%s" % (k, metadata[k]))
    for name, dtype, shape, begin, end in tensors:
        cols = [name, dtype, json.dumps(shape, separators=(",", ":"))]
        if args.sum:
            count = math.prod(shape)
            cols.append(repr(tensor_sum(data[start + begin:start + end], dtype, count, backend)))
        print("\t".join(cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
