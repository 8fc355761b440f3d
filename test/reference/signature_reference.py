#!/usr/bin/env python3
"""Independent reference for fedpeft's derived-state signatures (numpy only).

Written from docs/protocol.md ("Derived-state signatures") and not from fedpeft's code: the seeded generator
(FNV-1a labels, splitmix32 seeding, sfc32, Box-Muller), each method's derived tensors (PiCa's SVD projectors
by an exact SVD, seeded frozen A, seeded column sets and windows) and the probe-and-project signature.

Usage: signature_reference.py VECTORS_JSON   (or - to read the vectors from stdin)
Prints {"cases": [{"method", "names", "signature"}...]} as JSON, one entry per case of the file.
"""
import base64
import json
import math
import sys

import numpy as np

M32 = 0xFFFFFFFF
ROLE_ORDER = ["q", "k", "v", "o", "up", "down"]
ROLE_PATH = {"q": "attn.q", "k": "attn.k", "v": "attn.v", "o": "attn.o", "up": "mlp.up", "down": "mlp.down"}


def fnv1a(label):
    h = 0x811C9DC5
    for ch in label:  # UTF-16 code units; labels here are ASCII
        h ^= ord(ch)
        h = (h * 0x01000193) & M32
    return h


def imul(a, b):
    return (a * b) & M32


class Rng:
    def __init__(self, seed):
        self.seed = seed & M32
        s = self.seed
        words = []
        for _ in range(4):
            s = (s + 0x9E3779B9) & M32
            z = s
            z = imul(z ^ (z >> 16), 0x85EBCA6B)
            z = imul(z ^ (z >> 13), 0xC2B2AE35)
            words.append((z ^ (z >> 16)) & M32)
        self.a, self.b, self.c, self.d = words
        self.spare = None
        for _ in range(12):
            self.next_u32()

    def fork(self, label):
        h = fnv1a(label)
        return Rng((self.seed ^ h) + imul(h, 0x9E3779B1))

    def next_u32(self):
        t = (self.a + self.b + self.d) & M32
        self.d = (self.d + 1) & M32
        self.a = self.b ^ (self.b >> 9)
        self.b = (self.c + (self.c << 3)) & M32
        self.c = ((self.c << 21) | (self.c >> 11)) & M32
        self.c = (self.c + t) & M32
        return t

    def next(self):
        return self.next_u32() / 4294967296.0

    def int(self, n):
        return math.floor(self.next() * n)

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u = 0.0
        while u <= 2.0**-52:
            u = self.next()
        v = self.next()
        r = math.sqrt(-2.0 * math.log(u))
        self.spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)

    def normal_f32(self, size):
        return np.array([self.normal() for _ in range(size)], dtype=np.float64).astype(np.float32)

    def uniform_f32(self, size, lo, hi):
        return np.array([lo + (hi - lo) * self.next() for _ in range(size)], dtype=np.float64).astype(np.float32)

    def permutation(self, n):
        items = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def layers_of(model, roles):
    """Adapted layers in signature order: by layer index, then q, k, v, o, up, down; with their [in, out]."""
    d, mlp = model["dModel"], model["mlpDim"]
    dims = {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d), "up": (d, mlp), "down": (mlp, d)}
    return [
        (f"layers.{i}.{ROLE_PATH[role]}", dims[role])
        for i in range(model["layers"])
        for role in ROLE_ORDER
        if role in roles
    ]


def kernel_of(case, name):
    k = case["baseKernels"][name]
    return np.frombuffer(base64.b64decode(k["float32LeBase64"]), dtype="<f4").reshape(k["shape"])


def pica_projector(kernel, r):
    """Top-r left singular vectors, each column's largest-|.| entry made positive (first one on a tie)."""
    u, _, _ = np.linalg.svd(kernel.astype(np.float64), full_matrices=False)
    u = u[:, :r]
    for j in range(r):
        if u[int(np.argmax(np.abs(u[:, j]))), j] < 0:
            u[:, j] = -u[:, j]
    return u.astype(np.float32)


def window(offset, r, m):
    w = offset % m
    return np.array([(w + j) % m for j in range(r)], dtype=np.int32)


def derived_tensors(case, model, root):
    """(name, array) per derived tensor, factors first (layer order), then column sets / windows."""
    method, config, link = case["method"], case["config"], case["link"]
    r = config["r"]
    out = []
    for name, (m, n) in layers_of(model, config["roles"]):
        if method == "pica":
            if config.get("projection", "input") != "input":
                raise SystemExit("only PiCa's input projection is covered by this reference")
            out.append((f"{name}.U", pica_projector(kernel_of(case, name), r)))
        elif method in ("ffa-lora", "rac-lora", "losa"):
            bound = 1 / math.sqrt(m)
            a = root.fork(f"frozen:{name}:{link}").uniform_f32(m * r, -bound, bound).reshape(m, r)
            out.append((f"{name}.A", a))
        elif method == "paca":
            chosen = sorted(root.fork(f"columns:{name}").permutation(m)[:r])
            out.append((f"{name}.columns", np.array(chosen, dtype=np.int32)))
        elif method == "cla":
            out.append((f"{name}.window", window(0, r, m)))
        elif method == "random-cla":
            out.append((f"{name}.window", window(root.fork(f"window:{name}").int(m - r + 1), r, m)))
        elif method == "c3la":
            out.append((f"{name}.window", window(link * r, r, m)))
        elif method == "random-c3la":
            windows = max(1, m // r)
            order = root.fork(f"windows:{m}:{r}").permutation(windows)
            out.append((f"{name}.window", window(order[link % windows] * r, r, m)))
        else:
            raise SystemExit(f"no derived-state construction known for method {method!r}")
    return out


def signature(derived, seed):
    probes = Rng(seed).fork("adapter-signature")
    values = []
    for name, t in derived:
        m = t.shape[0]
        mat = t.astype(np.float64).reshape(m, -1)
        z = probes.fork(name).normal_f32(m).astype(np.float64)
        values.extend((mat.T @ z).astype(np.float32).tolist())
    return values


def main():
    if sys.argv[1] == "-":
        vectors = json.load(sys.stdin)
    else:
        with open(sys.argv[1], encoding="utf-8") as f:
            vectors = json.load(f)
    seed, model = vectors["seed"], vectors["model"]
    results = []
    for case in vectors["cases"]:
        derived = derived_tensors(case, model, Rng(seed))
        results.append(
            {"method": case["method"], "names": [n for n, _ in derived], "signature": signature(derived, seed)}
        )
    json.dump({"cases": results}, sys.stdout)


if __name__ == "__main__":
    main()
