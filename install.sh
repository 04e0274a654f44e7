#!/bin/sh
# Installs the myuts release binary for this machine:
#
#   curl -fsSL https://github.com/myuts/myuts/releases/latest/download/install.sh | sh
#
# It picks the asset for this architecture and C library, checks it against the
# release's SHA256SUMS and installs it as myuts in /usr/local/bin (root) or
# ~/.local/bin (anyone else). Settings, all optional:
#   MYUTS_VERSION      a release such as 0.1.0 (default: the latest)
#   MYUTS_BASE_URL     where releases live, laid out as GitHub's: <base>/latest/download/<asset>
#                      and <base>/download/v<version>/<asset> (default: the project's releases)
#   MYUTS_INSTALL_DIR  the directory to install into (overrides the two below)
#   MYUTS_PREFIX       root installs into <prefix>/bin (default /usr/local)
#   MYUTS_LIBC         glibc or musl, when detection gets it wrong
set -eu

# The project's GitHub home; the only place it is named.
MYUTS_REPO="myuts/myuts"

say() { printf 'myuts install: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

tmp=""
staged=""
cleanup() {
  # Whatever happened, leave nothing half-written behind.
  [ -n "$staged" ] && rm -f "$staged"
  [ -n "$tmp" ] && rm -rf "$tmp"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

detect_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported architecture $(uname -m): releases exist for x86_64 and aarch64" ;;
  esac
}

# musl or glibc. ldd names its C library (musl's ldd prints "musl libc" and exits 1);
# a musl loader alone proves little, since glibc systems can have one installed too.
detect_libc() {
  case "${MYUTS_LIBC:-}" in
    glibc | musl)
      echo "$MYUTS_LIBC"
      return
      ;;
    "") ;;
    *) die "MYUTS_LIBC must be glibc or musl, not $MYUTS_LIBC" ;;
  esac
  if command -v ldd >/dev/null 2>&1; then
    out=$(ldd --version 2>&1 || true)
    case "$out" in
      *musl*)
        echo musl
        return
        ;;
      *GLIBC* | *"GNU libc"* | *"GNU C Library"*)
        echo glibc
        return
        ;;
    esac
  fi
  if command -v getconf >/dev/null 2>&1 && getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
    echo glibc
    return
  fi
  for f in /lib/ld-musl-*.so.1; do
    if [ -e "$f" ]; then
      echo musl
      return
    fi
  done
  echo glibc
}

download() { # url file
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1" || die "download failed: $1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" || die "download failed: $1"
  else
    die "need curl or wget to download $1"
  fi
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    die "need sha256sum, shasum or openssl to verify the download"
  fi
}

main() {
  [ "$(uname -s)" = Linux ] || die "unsupported system $(uname -s): myuts runs on Linux only"
  arch=$(detect_arch)
  libc=$(detect_libc)
  suffix="linux-$arch"
  [ "$libc" = musl ] && suffix="$suffix-musl"

  base=${MYUTS_BASE_URL:-https://github.com/$MYUTS_REPO/releases}
  base=${base%/}
  version=${MYUTS_VERSION:-}
  version=${version#v}
  case "$version" in
    *[!0-9A-Za-z.+-]*) die "MYUTS_VERSION looks wrong: $MYUTS_VERSION" ;;
  esac
  if [ -n "$version" ]; then
    url="$base/download/v$version"
  else
    url="$base/latest/download"
  fi

  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t myuts-install)
  download "$url/SHA256SUMS" "$tmp/SHA256SUMS"

  # The sums name the assets, so they also tell which version "latest" is.
  if [ -n "$version" ]; then
    asset="myuts-$version-$suffix"
    expected=$(awk -v n="$asset" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/SHA256SUMS")
  else
    line=$(awk -v s="-$suffix" '{ n = $2; sub(/^\*/, "", n) } n ~ /^myuts-/ && substr(n, length(n) - length(s) + 1) == s { print $1, n; exit }' "$tmp/SHA256SUMS")
    expected=${line%% *}
    asset=${line#* }
  fi
  [ -n "$expected" ] || die "no $suffix asset in $url/SHA256SUMS (this platform may not be released)"
  case "$expected" in
    *[!0-9a-f]* | "") die "malformed SHA256SUMS at $url" ;;
  esac
  [ ${#expected} -eq 64 ] || die "malformed SHA256SUMS at $url"

  say "downloading $asset"
  download "$url/$asset" "$tmp/$asset"
  actual=$(sha256 "$tmp/$asset")
  [ "$actual" = "$expected" ] || die "checksum mismatch for $asset: expected $expected, got $actual; nothing was installed"

  if [ -n "${MYUTS_INSTALL_DIR:-}" ]; then
    dir=$MYUTS_INSTALL_DIR
  elif [ "$(id -u)" = 0 ]; then
    dir=${MYUTS_PREFIX:-/usr/local}/bin
  else
    [ -n "${HOME:-}" ] || die "HOME is not set; set MYUTS_INSTALL_DIR"
    dir=$HOME/.local/bin
  fi
  mkdir -p "$dir" || die "cannot create $dir"

  # Stage beside the target, then rename: the rename is atomic, so myuts is either
  # the old binary or the whole new one, never a partial copy.
  staged="$dir/.myuts.$$.tmp"
  cp "$tmp/$asset" "$staged" || die "cannot write to $dir"
  chmod 755 "$staged"
  mv -f "$staged" "$dir/myuts" || die "cannot install $dir/myuts"
  staged=""

  say "installed $dir/myuts"
  if out=$("$dir/myuts" --version 2>&1); then
    say "$out"
  elif [ "$libc" = musl ]; then
    say "warning: $dir/myuts does not start; a musl system needs libstdc++ and libgcc (Alpine: apk add libstdc++)"
  else
    say "warning: $dir/myuts does not start: $out"
  fi
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *) say "note: $dir is not in PATH" ;;
  esac
}

main "$@"
