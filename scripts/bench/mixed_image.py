#!/usr/bin/env python3
"""mixed_image.py PATH GIB: a raw image of mixed data, the same every time (seeded): 2 MiB blocks
of random bytes (30%), compressible text (25%), written zeros (10%) and holes (35%)."""
import os, random, sys
path, gib = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
chunk = 2 << 20
text = (b"Corral keeps volumes on replicas and backs them up. " * 50000)[:chunk]
with open(path, "wb") as f:
    f.truncate(gib << 30)
    for index in range((gib << 30) // chunk):
        kind = rng.random()
        if kind < 0.30: f.seek(index * chunk); f.write(os.urandom(chunk))          # random
        elif kind < 0.55: f.seek(index * chunk); f.write(text)                      # compressible
        elif kind < 0.65: f.seek(index * chunk); f.write(bytes(chunk))              # written zeros
        # else: a hole
