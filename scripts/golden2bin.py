#!/usr/bin/env python3
"""Turns tests/golden annotated cases into binary seed files for the fuzz corpora.
Run from the repository root; rewrites tests/fuzz/corpus/fuzz_frame and fuzz_bodies."""
import os, re, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
gold = os.path.join(root, "tests", "golden")

def load(name):
    data = open(os.path.join(gold, name), "rb").read()
    if not (name.endswith(".frame") or name.endswith(".raw")):
        return data
    out = bytearray()
    for line in data.decode().split("\n"):
        if line.startswith("> "):
            out += line[2:].encode()
            continue
        line = line.split("#", 1)[0]
        out += bytes.fromhex("".join(line.split()))
    return bytes(out)

def write(target, name, data):
    d = os.path.join(root, "tests", "fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

frames = sorted(f for f in os.listdir(gold) if f.endswith(".frame"))
for f in frames:
    write("fuzz_frame", f.replace(".frame", ".bin"), load(f))
write("fuzz_frame", "all_pipelined.bin", b"".join(load(f) for f in frames))
write("fuzz_bodies", "route_bare.bin", b"\x00" + load("route_bare.json"))
write("fuzz_bodies", "route_std.bin", b"\x00" + load("route_std.json"))
write("fuzz_bodies", "cluster.bin", b"\x01" + load("cluster_info.json"))
write("fuzz_bodies", "dv.bin", b"\x02" + b'{"counter":3,"timestamp":1700000000000}')
write("fuzz_bodies", "register_compressed.bin", b"\x04" + zlib.compress(load("register_compressed.raw"), 9))
