#!/usr/bin/env bash
# Check the Raspberry Pi install on an emulated 64-bit Raspberry Pi OS, not on assumptions.
#
# Builds Debian bookworm arm64 (what 64-bit Raspberry Pi OS is based on) with debootstrap, runs it
# under qemu-user-static as a Raspberry Pi 4 (Cortex-A72), installs the edgehar wheel built from this
# checkout with no extras (aarch64 wheels only, no TensorFlow), and runs, from a folder outside the
# checkout, `edgehar stream --source demo` and `edgehar validate`. Their output goes to stdout and to
# models/pi-emulated.txt (committed).
#
# Needs root, and on Debian/Ubuntu: apt-get install debootstrap qemu-user-static
# Slow, not part of CI: a whole run measured 9.5 minutes on the project's machine (issue 21; the
# debootstrap is reused on later runs).
#
#   tools/pi_emulated.sh [ROOTFS]      ROOTFS default /var/tmp/edgehar-pi-arm64 (kept and reused)
#   EDGEHAR_PI_DATA=DIR                UCI HAR data for validate (default ../shared/data)
#
# Pitfalls it avoids, measured with QEMU 7.2:
# - Without /sys in the chroot LiteRT sees no CPU topology and a few int8 scores of the demo round
#   differently from x86-64; with /sys mounted the demo is bit-identical.
# - QEMU shows the host's x86 /proc/cpuinfo to the guest and LiteRT segfaults in Interpreter():
#   a Pi 4 style cpuinfo is bind-mounted over /proc/cpuinfo.
# - QEMU's default `max` CPU gives wrong LiteRT results (206 of 224 demo windows WALKING_DOWNSTAIRS):
#   QEMU_CPU=cortex-a72 (Pi 4; cortex-a76 is a Pi 5) matches x86-64 bit for bit.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/var/tmp/edgehar-pi-arm64}
data=${EDGEHAR_PI_DATA:-$repo/../shared/data}
[ -d "$data/uci-har" ] || {
    echo "error: no UCI HAR data at $data/uci-har: set EDGEHAR_PI_DATA to a folder holding uci-har/" \
         "(see docs/data.md)" >&2; exit 2; }
data=$(realpath "$data")
out=$repo/models/pi-emulated.txt
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export QEMU_CPU=${QEMU_CPU:-cortex-a72}

[ "$(id -u)" = 0 ] || { echo "error: run as root (debootstrap, chroot and mounts need it)" >&2; exit 2; }
for tool in debootstrap qemu-aarch64-static; do
    command -v $tool >/dev/null || {
        echo "error: $tool missing: apt-get install debootstrap qemu-user-static" >&2; exit 2; }
done

# 1. Run aarch64 binaries through QEMU (F: the kernel keeps the interpreter open, so it works in a chroot).
#    A registration made here is removed on exit; one that was there before is left alone.
binfmt=/proc/sys/fs/binfmt_misc
[ -e $binfmt/register ] || mount -t binfmt_misc binfmt_misc $binfmt
registered=
if [ ! -e $binfmt/qemu-aarch64 ]; then
    magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    echo ":qemu-aarch64:M::$magic:$mask:$(command -v qemu-aarch64-static):F" > $binfmt/register
    registered=$binfmt/qemu-aarch64
fi
unregister() { [ -z "$registered" ] || echo -1 > "$registered"; }
trap unregister EXIT

# 2. Debian bookworm arm64 with Python (reused when it is already there).
if [ ! -x "$root/usr/bin/python3" ]; then
    rm -rf "$root"
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" "$mirror"
fi

# pip inside reaches the registry the host reaches: same CA certificates, same pip settings.
if [ -d /usr/local/share/ca-certificates ]; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
[ -d /etc/xdg/pip ] && mkdir -p "$root/etc/xdg" && cp -r /etc/xdg/pip "$root/etc/xdg/"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# 3. The wheel, built from a copy of this checkout's files (no stale build/ folder in it).
wheels=$(mktemp -d)
mkdir "$wheels/src"
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 -I{} find {} -maxdepth 0 -type f -print0 \
    | tar --null -T - -cf -) | tar -xf - -C "$wheels/src"
python3 -m pip wheel --quiet --no-deps "$wheels/src" -w "$wheels"
wheel=$(ls "$wheels"/edgehar-*.whl)
mkdir -p "$root/wheels" && rm -f "$root"/wheels/*.whl && cp "$wheel" "$root/wheels/"

# 4. Mounts: proc with a Pi 4 cpuinfo over it, sys, dev, the data read-only. Undone on exit.
cpuinfo=$(mktemp)
for core in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' $core
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n'
    printf 'CPU revision\t: 3\n\n'
done > "$cpuinfo"
printf 'Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n' >> "$cpuinfo"
mounts=()
cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" || umount -l "${mounts[i]}"; done
    rm -rf "$wheels" "$cpuinfo"
    unregister
}
trap cleanup EXIT
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount --bind "$cpuinfo" "$root/proc/cpuinfo" && mounts+=("$root/proc/cpuinfo")
mount -t sysfs sysfs "$root/sys" && mounts+=("$root/sys")
mount --bind /dev "$root/dev" && mounts+=("$root/dev")
mkdir -p "$root/data"
mount --bind "$data" "$root/data" && mount -o remount,bind,ro "$root/data" && mounts+=("$root/data")

# 5. Install with no extras and run from a folder outside any checkout.
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 COLUMNS=100 QEMU_CPU="$QEMU_CPU" \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL} \
    /bin/bash -euo pipefail -c '
rm -rf /opt/edgehar && python3 -m venv /opt/edgehar
/opt/edgehar/bin/pip install --quiet --disable-pip-version-check /wheels/edgehar-*.whl
cd /tmp
echo "# tools/pi_emulated.sh: Debian $(cat /etc/debian_version) $(uname -m) under QEMU as $(grep -m1 Model /proc/cpuinfo | cut -d: -f2-), CPU $QEMU_CPU"
echo "# python $(python3 -c "import platform; print(platform.python_version())"), $(/opt/edgehar/bin/pip list 2>/dev/null | grep -E "^(edgehar|ai-edge-litert|numpy) " | tr -s " " | paste -sd, -)"
echo "# tensorflow importable: $(/opt/edgehar/bin/python -c "import tensorflow" 2>/dev/null && echo yes || echo no)"
echo "\$ edgehar stream --source demo"
/opt/edgehar/bin/edgehar stream --source demo 2>&1
echo "\$ edgehar validate --data /data/uci-har"
/opt/edgehar/bin/edgehar validate --data /data/uci-har 2>&1
' 2>&1 | tee "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
