#!/usr/bin/python3
"""(Debian's python3, which has python3-libnbd.) A verifying writer that survives its server restarting (libnbd).

Writes 4 KiB blocks stamped with (block, sequence) at random offsets of a region. A write whose
reply arrived is acknowledged and must read back forever after; a write cut off by a lost
connection may have landed or not, and the next read decides. After each reconnection every
acknowledged block is read back and checked. Runs until STOP_FILE exists, then verifies once more.
Exit 0 when nothing acknowledged was ever lost; 1 with the first mismatch otherwise.

usage: verifying_writer.py URI STOP_FILE [REGION_MIB] [RECONNECT_SECONDS]
"""
import os, random, struct, sys, time
import nbd

BLOCK = 4096
HANDSHAKE_SECONDS = 5
uri, stop_file = sys.argv[1], sys.argv[2]
region_blocks = int(sys.argv[3] if len(sys.argv) > 3 else 64) * 1024 * 1024 // BLOCK
reconnect_limit = float(sys.argv[4] if len(sys.argv) > 4 else 120)
acked = {}        # block -> sequence that must be there (0 = never written: zeros)
uncertain = {}    # block -> (old sequence, new sequence) of a write cut off by a failure
sequence = 0
reconnects = 0

def stamp(block, seq):
    return b"\0" * BLOCK if seq == 0 else struct.pack("<QQ", block, seq) * (BLOCK // 16)

class HandshakeTimeout(Exception):
    pass

def connect():
    """Connects, retrying until reconnect_limit. Each handshake gets HANDSHAKE_SECONDS: a connection
    that a dying server's listener took in but never accepted is answered by nothing, not even a
    reset, and a blocking connect_uri waited on it forever (clean-clone CI, test-node-crashloop)."""
    deadline = time.monotonic() + reconnect_limit
    while True:
        h = nbd.NBD()
        try:
            h.aio_connect_uri(uri)
            handshake_end = time.monotonic() + HANDSHAKE_SECONDS
            while not h.aio_is_ready():
                if h.aio_is_dead() or h.aio_is_closed():
                    raise HandshakeTimeout("the connection ended during the handshake")
                if time.monotonic() > handshake_end:
                    raise HandshakeTimeout(f"no handshake within {HANDSHAKE_SECONDS} s")
                h.poll(200)
            return h
        except (nbd.Error, HandshakeTimeout) as error:
            try:
                h.close()
            except Exception:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"writer: could not reconnect within {reconnect_limit} s: {error}")
            time.sleep(0.1)

def verify(h):
    """Reads every touched block; resolves uncertain writes; fails on any lost acknowledged write."""
    for block, (old, new) in list(uncertain.items()):
        data = h.pread(BLOCK, block * BLOCK)
        if data == stamp(block, new):
            acked[block] = new
        elif data == stamp(block, old):
            acked[block] = old
        else:
            sys.exit(f"writer: block {block} holds neither sequence {old} nor {new} after a failure")
        del uncertain[block]
    blocks = sorted(acked)
    for start in range(0, region_blocks, 256):
        wanted = [b for b in blocks if start <= b < start + 256] if blocks else []
        if not wanted:
            continue
        data = h.pread(256 * BLOCK, start * BLOCK)
        for block in wanted:
            got = data[(block - start) * BLOCK:(block - start + 1) * BLOCK]
            if got != stamp(block, acked[block]):
                seen = struct.unpack("<QQ", got[:16])
                sys.exit(f"writer: LOST acknowledged write: block {block} should hold sequence {acked[block]}, holds {seen}")

h = connect()
rng = random.Random(7)
while True:
    stopping = os.path.exists(stop_file)
    try:
        if stopping:
            verify(h)
            break
        for _ in range(64):
            block = rng.randrange(region_blocks)
            sequence += 1
            uncertain[block] = (acked.get(block, 0) if block not in uncertain else uncertain[block][0], sequence)
            h.pwrite(stamp(block, sequence), block * BLOCK)
            acked[block] = sequence
            del uncertain[block]
        if sequence == 64:
            print("writer: writing", flush=True)
    except nbd.Error:
        reconnects += 1
        try:
            h.close()
        except Exception:
            pass
        h = connect()
        try:
            verify(h)
        except nbd.Error:
            continue
print(f"writer: {sequence} writes, {len(acked)} blocks verified, {reconnects} reconnections, nothing lost")
