#!/usr/bin/env bash
# Installs the real third-party parts the tests run against (see ../shared/reference/test-environment.md).
# Idempotent; needs root (apt-get). `swift build` itself needs none of this.
set -euo pipefail
packages=(qemu-utils libnbd-bin python3-libnbd nbdkit fio fuse3 e2fsprogs util-linux iproute2)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
for tool in qemu-img qemu-io qemu-nbd nbdinfo nbdcopy nbdfuse nbdkit fio mkfs.ext4 fsck.ext4 losetup; do
    command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing after install" >&2; exit 1; }
done
echo "install-test-deps: all test tools present"
