#!/usr/bin/env bash
# Provisions a Vagrant machine (Ubuntu or Debian, as root): the test suite's packages,
# Bun, and a first build. The package list is read from .ci/setup, so the VM always
# has what CI has.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
src=${MYUTS_SRC:-/vagrant}
# The Bun the project is developed and tested with.
BUN_VERSION=1.4.5

# APT_PACKAGES=( ... ) in .ci/setup, comments dropped; vagrant itself is of no use inside.
mapfile -t packages < <(
  sed -n '/^APT_PACKAGES=(/,/^)/p' "$src/.ci/setup" | sed -e '1d' -e '$d' -e 's/#.*//' | tr -s ' \t' '\n' | sed -e '/^$/d' -e '/^vagrant$/d'
)
if ((${#packages[@]} == 0)); then
  echo "provision: found no APT_PACKAGES in $src/.ci/setup" >&2
  exit 1
fi
if [[ "${1:-}" == --list-packages ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl unzip git "${packages[@]}" >/dev/null

if [[ "$(bun --version 2>/dev/null || true)" != "$BUN_VERSION" ]]; then
  # Into /usr/local/bin, which sudo's secure_path includes, so `sudo bun` works.
  curl -fsSL https://bun.sh/install | BUN_INSTALL=/usr/local bash -s "bun-v$BUN_VERSION" >/dev/null
fi
bun --version

cd "$src"
bun install --frozen-lockfile
bun run build
echo "provision: cgroup filesystem is $(stat -fc %T /sys/fs/cgroup) (cgroup2fs means v2 only)"
echo "provision: run the tests with: vagrant ssh $(hostname | sed 's/^myuts-//') -c 'cd $src && sudo bun run test'"
