#!/usr/bin/env python3
"""An independent model of Longhorn's backup store, written from the format reference (not from
Corral's code), for interop tests:

  longhorn_store.py write ROOT VOLUME METHOD BLOCK_SIZE IMAGE...   writes one backup per image, the
      first full and each next incremental against the previous (as Longhorn does: every backup
      lists all blocks with data), plus an expired deletion lock left by a dead client.
  longhorn_store.py check ROOT     checks a store against the same rules: paths and hash
      directories, field order and encodings of volume.cfg and backup cfgs, sorted blocks, block
      names equal to the hash of their decompressed content, lock files; exits 1 listing problems.
  longhorn_store.py write-bi ROOT NAME METHOD IMAGE   writes a backing-image backup as Longhorn's
      backupstore does (backupbackingimage): 2 MiB blocks shared by all images, then the config.
  longhorn_store.py check-bi ROOT  checks the backing-image backups in a store: the config's path,
      field order and encodings, sorted 2 MiB blocks named by their content's hash, no lock left
      under the BACKINGIMAGE lock's directory.
"""
import gzip, hashlib, json, os, re, sys, time

def H(data): return hashlib.sha512(data).hexdigest()[:64]

def go_json(value):
    """Go encoding/json: compact, insertion order kept (struct order), <>& escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

def dq(s): return json.dumps(s)  # a ,string string: encoded twice (the second time by go_json)

def compress(method, data):
    if method == "gzip": return gzip.compress(data, mtime=0)
    if method == "lz4":
        import lz4.frame
        return lz4.frame.compress(data, block_size=lz4.frame.BLOCKSIZE_MAX4MB, content_checksum=True, block_linked=False)
    return data

def decompress(data):
    if data[:2] == b"\x1f\x8b": return gzip.decompress(data)
    if data[:4] == b"\x04\x22\x4d\x18":
        import lz4.frame
        return lz4.frame.decompress(data)
    return data

def volume_dir(root, volume):
    h = H(volume.encode())
    return os.path.join(root, "backupstore", "volumes", h[:2], h[2:4], volume)

def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f: f.write(data)
    os.rename(path + ".tmp", path)

def write(root, volume, method, block_size, images):
    vdir = volume_dir(root, volume)
    size = os.path.getsize(images[0])
    previous = None
    block_count = 0
    created = "2026-08-20T10:00:03Z"
    for index, image in enumerate(images):
        name = "backup-%016x" % (0x5c1e0a3f9b7d4e21 + index)
        data = open(image, "rb").read()
        blocks, uploaded = {}, 0
        for offset in range(0, size, block_size):
            chunk = data[offset:offset + block_size]
            if chunk.count(0) == len(chunk): continue               # a hole: never listed
            c = H(chunk)
            if previous is not None and previous.get(offset) == c:  # unchanged since the base
                blocks[offset] = c
                continue
            blocks[offset] = c
            path = os.path.join(vdir, "blocks", c[:2], c[2:4], c + ".blk")
            if not os.path.exists(path):
                packed = compress(method, chunk)
                put(path, packed)
                uploaded += len(packed)
                block_count += 1
        stamp = "2026-08-2%dT10:00:0%dZ" % (1 + index, 2)
        cfg = {"Name": name, "VolumeName": volume, "SnapshotName": "snap-%d" % index, "SnapshotCreatedAt": stamp,
               "CreatedTime": stamp.replace(":02Z", ":09Z"), "Size": str(len(blocks) * block_size), "Labels": {"RecurringJob": "daily"},
               "Parameters": {"backup-block-size": str(block_size), "backup-mode": "incremental"}, "IsIncremental": previous is not None,
               "CompressionMethod": method, "NewlyUploadedDataSize": str(uploaded), "ReUploadedDataSize": "0",
               "ProcessingBlocks": None if previous is not None else {}}
        if blocks: cfg["Blocks"] = [{"Offset": o, "BlockChecksum": blocks[o]} for o in sorted(blocks)]
        cfg["SingleFile"] = {"FilePath": ""}
        put(os.path.join(vdir, "backups", "backup_%s.cfg" % name), go_json(cfg).encode())
        previous = blocks
        volume_cfg = {"Name": volume, "Size": str(size), "Labels": {"RecurringJob": "daily"}, "CreatedTime": created,
                      "LastBackupName": name, "LastBackupAt": stamp, "BlockCount": str(block_count),
                      "BackingImageName": dq(""), "BackingImageChecksum": dq(""), "CompressionMethod": dq(method),
                      "StorageClassName": dq("longhorn"), "DataEngine": dq("v1")}
        put(os.path.join(vdir, "volume.cfg"), go_json(volume_cfg).encode())
        print("%s?backup=%s&volume=%s" % ("file://" + root, name, volume))
    # A deletion lock of a client that died long ago: expired, so it must not block anyone.
    lock = os.path.join(vdir, "locks", "lock-97560b52474d4658.lck")
    put(lock, go_json({"Name": "lock-97560b52474d4658", "Type": 2, "Acquired": True}).encode())
    old = time.time() - 3600
    os.utime(lock, (old, old))

VOLUME_KEYS = ["Name", "Size", "Labels", "CreatedTime", "LastBackupName", "LastBackupAt", "BlockCount", "BackingImageName",
               "BackingImageChecksum", "CompressionMethod", "StorageClassName", "DataEngine"]
BACKUP_KEYS = ["Name", "VolumeName", "SnapshotName", "SnapshotCreatedAt", "CreatedTime", "Size", "Labels", "Parameters",
               "IsIncremental", "CompressionMethod", "NewlyUploadedDataSize", "ReUploadedDataSize", "ProcessingBlocks", "Blocks", "SingleFile"]

def keys_in_order(text):
    return list(json.loads(text, object_pairs_hook=lambda pairs: dict(pairs)).keys())

def check(root):
    problems = []
    base = os.path.join(root, "backupstore", "volumes")
    volumes = 0
    for h1 in sorted(os.listdir(base)):
        for h2 in sorted(os.listdir(os.path.join(base, h1))):
            for volume in sorted(os.listdir(os.path.join(base, h1, h2))):
                volumes += 1
                vdir = os.path.join(base, h1, h2, volume)
                if H(volume.encode())[:4] != h1 + h2: problems.append(f"{vdir}: hash directories do not match the volume name")
                raw = open(os.path.join(vdir, "volume.cfg"), "rb").read()
                text = raw.decode()
                if text.endswith("\n") or ": " in text: problems.append(f"{volume}/volume.cfg is not compact Go JSON")
                if keys_in_order(text)[:len(VOLUME_KEYS)] != VOLUME_KEYS: problems.append(f"{volume}/volume.cfg field order: {keys_in_order(text)}")
                cfg = json.loads(text)
                for key in ("Size", "BlockCount"):
                    if not re.fullmatch(r"[0-9]+", cfg[key]): problems.append(f"{volume}/volume.cfg {key} is not a string integer")
                for key in ("BackingImageName", "BackingImageChecksum", "CompressionMethod", "StorageClassName", "DataEngine"):
                    if not (isinstance(cfg[key], str) and cfg[key].startswith('"') and cfg[key].endswith('"')):
                        problems.append(f"{volume}/volume.cfg {key} is not double-encoded: {cfg[key]!r}")
                if "<" in text or ">" in text or "&" in text: problems.append(f"{volume}/volume.cfg has unescaped <>&")
                block_size_seen = set()
                for entry in sorted(os.listdir(os.path.join(vdir, "backups"))):
                    if ".tmp" in entry: continue
                    if not re.fullmatch(r"backup_[A-Za-z0-9][A-Za-z0-9_.-]*\.cfg", entry): problems.append(f"{volume}/backups/{entry}: bad name"); continue
                    text = open(os.path.join(vdir, "backups", entry), "rb").read().decode()
                    keys = [k for k in keys_in_order(text)]
                    expected = [k for k in BACKUP_KEYS if k in keys]
                    if keys != expected or keys[:13] != BACKUP_KEYS[:13]: problems.append(f"{volume}/{entry} field order: {keys}")
                    cfg = json.loads(text)
                    for key in ("Size", "NewlyUploadedDataSize", "ReUploadedDataSize"):
                        if not re.fullmatch(r"[0-9]+", cfg[key]): problems.append(f"{volume}/{entry} {key} is not a string integer")
                    # Longhorn keeps its empty ProcessingBlocks struct in a completed full backup only.
                    full_and_done = cfg["CreatedTime"] != "" and not cfg["IsIncremental"]
                    wanted = {} if full_and_done else None
                    if cfg["ProcessingBlocks"] != wanted: problems.append(f"{volume}/{entry} ProcessingBlocks is {cfg['ProcessingBlocks']!r}, Longhorn writes {wanted!r}")
                    if cfg["SingleFile"] != {"FilePath": ""}: problems.append(f"{volume}/{entry} SingleFile is wrong")
                    offsets = [b["Offset"] for b in cfg.get("Blocks", [])]
                    if offsets != sorted(offsets): problems.append(f"{volume}/{entry} Blocks are not sorted")
                    size = int((cfg.get("Parameters") or {}).get("backup-block-size") or 2097152)
                    block_size_seen.add(size)
                    if int(cfg["Size"]) != len(offsets) * size: problems.append(f"{volume}/{entry} Size is not blocks x block size")
                    for b in cfg.get("Blocks", []):
                        c = b["BlockChecksum"]
                        path = os.path.join(vdir, "blocks", c[:2], c[2:4], c + ".blk")
                        if not os.path.exists(path): problems.append(f"{volume}/{entry}: block {c} is missing"); continue
                        data = decompress(open(path, "rb").read())
                        if len(data) != size or H(data) != c: problems.append(f"{volume}: block {c} does not hash to its name")
                for entry in os.listdir(os.path.join(vdir, "locks")) if os.path.isdir(os.path.join(vdir, "locks")) else []:
                    text = open(os.path.join(vdir, "locks", entry)).read()
                    if keys_in_order(text) != ["Name", "Type", "Acquired"]: problems.append(f"{volume}/locks/{entry} is not a Longhorn lock")
    if volumes == 0: problems.append("no backup volume found")
    for p in problems: print("PROBLEM", p)
    print(f"checked {volumes} backup volume(s): {len(problems)} problem(s)")
    return 1 if problems else 0

BI_KEYS = ["Name", "Size", "BlockCount", "Checksum", "Labels", "CompressionMethod", "CreatedTime", "CompleteTime",
           "Secret", "SecretNamespace", "ProcessingBlocks", "Blocks"]
BI_BLOCK = 2 << 20

def bi_block_path(root, c): return os.path.join(root, "backupstore", "backing-images", "blocks", c[:2], c[2:4], c + ".blk")
def bi_config_path(root, name): return os.path.join(root, "backupstore", "backing-images", "backing-images", name, "backing-image.cfg")

def write_bi(root, name, method, image):
    data = open(image, "rb").read()
    blocks = []
    for offset in range(0, len(data), BI_BLOCK):
        chunk = data[offset:offset + BI_BLOCK]
        if chunk.count(0) == len(chunk): continue
        c = H(chunk)
        if not os.path.exists(bi_block_path(root, c)): put(bi_block_path(root, c), compress(method, chunk))
        blocks.append({"Offset": offset, "BlockChecksum": c})
    cfg = {"Name": name, "Size": str(len(data)), "BlockCount": str(len(blocks)), "Checksum": hashlib.sha512(data).hexdigest(),
           "Labels": None, "CompressionMethod": method, "CreatedTime": "2026-08-20T10:00:03Z", "CompleteTime": "2026-08-20T10:00:09Z",
           "Secret": "", "SecretNamespace": "", "ProcessingBlocks": {}, "Blocks": blocks}
    put(bi_config_path(root, name), go_json(cfg).encode())

def check_bi(root):
    problems = []
    base = os.path.join(root, "backupstore", "backing-images", "backing-images")
    names = sorted(os.listdir(base)) if os.path.isdir(base) else []
    for name in names:
        text = open(bi_config_path(root, name), "rb").read().decode()
        if text.endswith("\n") or ": " in text: problems.append(f"{name}: backing-image.cfg is not compact Go JSON")
        keys = keys_in_order(text)
        if keys != [k for k in BI_KEYS if k in keys] or keys[:11] != BI_KEYS[:11]: problems.append(f"{name}: field order {keys}")
        cfg = json.loads(text)
        if cfg["Name"] != name: problems.append(f"{name}: Name is {cfg['Name']!r}")
        for key in ("Size", "BlockCount"):
            if not (isinstance(cfg[key], str) and re.fullmatch(r"[0-9]+", cfg[key])): problems.append(f"{name}: {key} is not a string integer")
        if cfg["CompleteTime"] == "": problems.append(f"{name}: in progress (CompleteTime empty)")
        if cfg["ProcessingBlocks"] != {}: problems.append(f"{name}: ProcessingBlocks is {cfg['ProcessingBlocks']!r}, Longhorn writes {{}}")
        if not re.fullmatch(r"[0-9a-f]{128}", cfg["Checksum"]): problems.append(f"{name}: Checksum is not a SHA-512")
        blocks = cfg.get("Blocks", [])
        offsets = [b["Offset"] for b in blocks]
        if offsets != sorted(offsets) or any(o % BI_BLOCK for o in offsets): problems.append(f"{name}: Blocks are not sorted 2 MiB offsets")
        if int(cfg["BlockCount"]) != len(blocks): problems.append(f"{name}: BlockCount is not the number of Blocks")
        size = int(cfg["Size"])
        for b in blocks:
            c = b["BlockChecksum"]
            if not os.path.exists(bi_block_path(root, c)): problems.append(f"{name}: block {c} is missing"); continue
            data = decompress(open(bi_block_path(root, c), "rb").read())
            if len(data) != min(BI_BLOCK, size - b["Offset"]) or H(data) != c: problems.append(f"{name}: block {c} does not hash to its name")
    if H(b"BACKINGIMAGE")[:4] != "22fc": problems.append("the BACKINGIMAGE lock's directory is not volumes/22/fc")
    locks = os.path.join(root, "backupstore", "volumes", "22", "fc", "BACKINGIMAGE", "locks")
    if not os.path.isdir(locks): problems.append("no lock was taken under volumes/22/fc/BACKINGIMAGE/locks")
    elif os.listdir(locks): problems.append(f"locks left behind: {os.listdir(locks)}")
    if not names: problems.append("no backing-image backup found")
    for p in problems: print("PROBLEM", p)
    print(f"checked {len(names)} backing-image backup(s): {len(problems)} problem(s)")
    return 1 if problems else 0

if __name__ == "__main__":
    if sys.argv[1] == "write-bi":
        write_bi(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "check-bi":
        sys.exit(check_bi(sys.argv[2]))
    elif sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:])
    else:
        sys.exit(check(sys.argv[2]))
