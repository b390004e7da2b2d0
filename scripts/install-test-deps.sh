#!/usr/bin/env bash
# Installs the real third-party parts the tests run against (see ../shared/reference/test-environment.md).
# Idempotent; needs root (apt-get). `swift build` itself needs none of this.
set -euo pipefail
# chromium: Debian's headless browser, which the web UI's Playwright tests drive (Playwright's own
# browser download is not reachable here).
packages=(qemu-utils libnbd-bin python3-libnbd nbdkit fio fuse3 e2fsprogs xfsprogs util-linux iproute2 chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Python tools: schemathesis fuzzes the manager's API against its OpenAPI document.
python3 -m pip --version >/dev/null 2>&1 || { echo "install-test-deps: pip is missing" >&2; exit 1; }
command -v schemathesis >/dev/null || python3 -m pip install -q --root-user-action=ignore "schemathesis>=4,<5"
# moto_server is the S3 server backups are tested against; botocore signs the reference SigV4 requests.
command -v moto_server >/dev/null || python3 -m pip install -q --root-user-action=ignore "moto[server]>=5,<6"
python3 -c 'import boto3, botocore' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore boto3 botocore
# python lz4 writes the Longhorn-format golden stores (an independent model of the format).
python3 -c 'import lz4.frame' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "lz4>=4,<5"
# Playwright drives Chromium for the web UI's browser tests; pinned, as its protocol follows the browser.
python3 -c 'import playwright' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "playwright==1.65.2"
# axe-core, through its Playwright wrapper, checks the pages' accessibility.
python3 -c 'import axe_playwright_python' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "axe-playwright-python==0.1.8"
for tool in chromium schemathesis moto_server qemu-img qemu-io qemu-nbd nbdinfo nbdcopy nbdfuse nbdkit fio mkfs.ext4 fsck.ext4 mkfs.xfs losetup; do
    command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing after install" >&2; exit 1; }
done
echo "install-test-deps: all test tools present"
