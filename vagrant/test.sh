#!/bin/sh
# bun run test:vagrant [machine...]: boots each machine (default: ubuntu and debian),
# provisions it if new, and runs the whole test suite in it as root.
set -eu
cd "$(dirname "$0")/.."
command -v vagrant >/dev/null 2>&1 || {
  echo "test:vagrant: vagrant is not installed (https://developer.hashicorp.com/vagrant)" >&2
  exit 1
}
[ "$#" -gt 0 ] || set -- ubuntu debian
status=0
for machine in "$@"; do
  echo "== $machine"
  vagrant up "$machine"
  vagrant ssh "$machine" -c 'cd /vagrant && sudo bun run test' || status=1
done
exit "$status"
