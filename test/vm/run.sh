#!/usr/bin/env bash
# bun run test:vm — the cgroup checks on a cgroup v2 only kernel, then the AppArmor
# checks, and in a second boot of the same VM the SELinux checks. Builds a small VM
# from packages (Debian's cloud kernel, which has AppArmor on and SELinux built in,
# apparmor_parser, checkpolicy for a minimal SELinux policy, busybox, the compiled
# dist/myuts and its glibc libraries, a busybox rootfs), boots it under qemu's software emulation
# (KVM guests hang on these machines), and reads PASS/FAIL lines from the serial
# console. Exits 0 when every check passed, 1 on a failure or timeout, 77 when a
# prerequisite is missing (the bun test wrapper reports that as a skip).
set -euo pipefail
cd "$(dirname "$0")/../.."
TIMEOUT=${VM_TIMEOUT:-240}

need() { command -v "$1" >/dev/null || { echo "test:vm: missing $1 (apt-get install $2)"; exit 77; }; }
need qemu-system-x86_64 qemu-system-x86
need cpio cpio
need dpkg-deb dpkg
need apt-get apt
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q "statically linked" || BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || { echo "test:vm: missing a static busybox (apt-get install busybox-static)"; exit 77; }
[ -x dist/myuts ] || { echo "test:vm: missing dist/myuts (bun run build)"; exit 77; }
[ "$(uname -m)" = x86_64 ] || { echo "test:vm: x86_64 hosts only"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The kernel: whatever linux-image-cloud-amd64 points at, downloaded for this run only.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
[ -n "$pkg" ] || { apt-get update -qq >/dev/null 2>&1 || true; pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'); }
[ -n "$pkg" ] || { echo "test:vm: no linux-image-cloud-amd64 in the apt sources"; exit 77; }
(cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1) || { echo "test:vm: apt-get download $pkg failed"; exit 77; }
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/kernel"
# apparmor_parser, which loads profiles (it needs only libc).
(cd "$work" && apt-get download -qq apparmor >/dev/null 2>&1) || { echo "test:vm: apt-get download apparmor failed"; exit 77; }
dpkg-deb -x "$work"/apparmor_*.deb "$work/apparmor"
# checkpolicy compiles the SELinux checks' policy here, on the host (it needs only libc).
(cd "$work" && apt-get download -qq checkpolicy >/dev/null 2>&1) || { echo "test:vm: apt-get download checkpolicy failed"; exit 77; }
dpkg-deb -x "$work"/checkpolicy_*.deb "$work/checkpolicy"
kernel=$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)

# The initramfs: busybox, the binary and every library it loads, a busybox rootfs.
root="$work/initrd"
mkdir -p "$root"/{bin,proc,sys,dev,rootfs/bin,rootfs/proc,rootfs/dev,rootfs/sys,rootfs/tmp}
cp "$BUSYBOX" "$root/bin/busybox"
cp "$BUSYBOX" "$root/rootfs/bin/busybox"
for a in sh cat echo sleep true grep seq; do ln -s busybox "$root/rootfs/bin/$a"; done
cp dist/myuts "$root/myuts"
# myuts dlopens libc.so.6 itself, so it is listed even if ldd doesn't show it
for lib in $(ldd dist/myuts | grep -o '/[^ ]*') $(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp test/vm/init.sh "$root/init"
cp test/vm/guest-lib.sh test/vm/guest-checks.sh test/vm/apparmor-checks.sh test/vm/selinux-checks.sh "$root/"
mkdir -p "$root/sbin"
cp "$work/apparmor/sbin/apparmor_parser" "$root/sbin/apparmor_parser"
"$work/checkpolicy/usr/bin/checkpolicy" -U allow -o "$root/selinux.policy" test/vm/selinux-policy.conf >/dev/null
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# boot NAME KERNEL-ARGS: one run of the VM; its console goes to $work/NAME.log.
boot() {
  local log="$work/$1.log" qemu
  set +e
  timeout "$TIMEOUT" qemu-system-x86_64 -machine pc -cpu max -smp 2 -m 1536 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet rdinit=/init $2" </dev/null >"$log" 2>&1
  qemu=$?
  set -e
  tr -d '\r' <"$log" | grep -E '^(PASS|FAIL|layout:|VM-)' || true
  if ! tr -d '\r' <"$log" | grep -q '^VM-DONE'; then
    echo "test:vm: the $1 VM did not finish (qemu exit $qemu; timeout ${TIMEOUT}s); last console lines:"
    tr -d '\r' <"$log" | tail -n 25
    exit 1
  fi
}
boot cgroup-apparmor "systemd.unified_cgroup_hierarchy=1"
boot selinux "lsm=selinux myuts.checks=selinux"
passed=$(cat "$work"/*.log | tr -d '\r' | grep -c '^PASS' || true)
failed=$(cat "$work"/*.log | tr -d '\r' | grep -c '^FAIL' || true)
echo "test:vm: $passed passed, $failed failed (cgroup v2, AppArmor and SELinux, $pkg)"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
