#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/: a few small valid files each,
one per feature of the format, for libFuzzer to mutate. Standard library only. The files are
committed; rerun from the repository root after changing this script:

    python3 fuzz/make_corpus.py
"""
import json
import math
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] laid out in order."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def npy(descr, shape, raw, version=(1, 0)):
    shape_text = "({},)".format(shape[0]) if len(shape) == 1 else "({})".format(
        ", ".join(str(d) for d in shape))
    header = "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}".format(descr, shape_text)
    preamble = 10 if version == (1, 0) else 12
    header += " " * (-(preamble + len(header) + 1) % 64) + "\n"
    size = struct.pack("<H" if version == (1, 0) else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header.encode("latin1") + raw


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    fixtures = os.path.join(os.path.dirname(ROOT), "..", "tests", "fixtures")

    # Model files as nnkit writes them: a Flatten/Dense stack and a SimpleRNN.
    for case in ("flatten", "simple_rnn_relu_sequences"):
        with open(os.path.join(fixtures, case, "model.safetensors"), "rb") as f:
            write("safetensors", case + ".safetensors", f.read())
    f16 = struct.pack("<4e", 1.5, -0.0, math.inf, 6e-8)  # the last is a subnormal
    write("safetensors", "dtypes.safetensors", safetensors(
        [("double", "F64", [2], struct.pack("<2d", 0.25, -3.0)),
         ("half", "F16", [2, 2], f16),
         ("brain", "BF16", [1], struct.pack("<H", 0x3F80)),
         ("empty", "F32", [0, 3], b""),
         ("float", "F32", [], struct.pack("<f", 7.0))],
        {"note": "seed"}))
    write("safetensors", "no_tensors.safetensors", safetensors([]))

    write("npy", "f4_2x3.npy", npy("<f4", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6)))
    write("npy", "f8_scalar.npy", npy("<f8", [], struct.pack("<d", -1.25)))
    write("npy", "u1_labels.npy", npy("|u1", [4], bytes([0, 1, 9, 255])))
    write("npy", "i4_labels.npy", npy("<i4", [2, 1], struct.pack("<2i", 3, -7)))
    write("npy", "i8_v2_empty.npy", npy("<i8", [0, 5], b"", version=(2, 0)))

    write("csv", "comma_time.csv",
          "time,temp,load\n"
          "2024-01-01 00:00,1.5,10\n2024-01-01 01:00,2.5,11\n2024-01-01 02:00,,12\n"
          "2024-01-01 03:00,4.0,NA\n2024-01-01 04:00,5e0,14\n2024-01-01 05:00,-6.5,15\n"
          "2024-01-01 06:00,7,16\n2024-01-01 07:00,8.25,17\n")
    write("csv", "semicolon_quotes.csv",
          "\ufeff\"when\";\"a \"\"b\"\"\";c\r\n"
          "\"1;2\";+1.0;nan\r\n\"line\nbreak\";2;N/A\r\n\r\n3;3.5;1e-3\r\n4; 4 ;-0\r\n")
    write("csv", "tab_gaps.tsv", "x\ty\n\nNA\t1\nnull\t2\n3\t\n4\t#N/A\n5\t6\r7\t8\r")
    write("csv", "numbers_only.csv", "a\n1\n2\n3\n4\n5\n")


if __name__ == "__main__":
    main()
