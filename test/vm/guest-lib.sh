# Sourced by the VM's check scripts: the binary, the rootfs, and the PASS/FAIL lines
# that run.sh reads from the serial console.
M=/myuts
R=/rootfs
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
check() { name=$1; shift; if "$@"; then pass "$name"; else fail "$name" "$*"; fi; }
contains() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
