#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler)
# from Debian's `kubernetes` source package, once, into a cache outside the repository, and
# installs etcd from Debian. Prints the directory that holds the binaries.
# Used by `make test-k8s`; the first run takes 5 to 10 minutes, later runs a moment.
set -euo pipefail

cache="${SHIPYARD_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipyard/k8s}"
bin="$cache/bin"
wanted=(kube-apiserver kube-controller-manager kube-scheduler)
recipe="debian-kubernetes-src+reflect2-1.0.2"  # change it to rebuild the cache

have_all() {
  for name in "${wanted[@]}"; do [ -x "$bin/$name" ] || return 1; done
  [ "$(cat "$bin/.recipe" 2>/dev/null)" = "$recipe" ]
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server etcd-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ! have_all; then
  command -v go >/dev/null 2>&1 || need+=(golang-go)
  command -v rsync >/dev/null 2>&1 || need+=(rsync)
  command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
  [ -d "$reflect2" ] || need+=(golang-github-modern-go-reflect2-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}" >&2
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if ! have_all; then
  # Debian's source package, fetched through an apt configuration of our own that adds deb-src.
  work="$cache/build"
  rm -rf "$work" && mkdir -p "$work/apt/lists/partial" "$work/apt/sources"
  cat >"$work/apt/sources/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/apt/sources"
    -o "Dir::State::Lists=$work/apt/lists")
  echo "fetching Debian's kubernetes source package" >&2
  apt-get "${apt_opts[@]}" update -qq >&2
  (cd "$work" && apt-get "${apt_opts[@]}" source -qq --download-only kubernetes >&2)
  (cd "$work" && dpkg-source -x --no-check ./kubernetes_*.dsc src >&2)
  # The vendored reflect2 1.0.1 crashes under Debian's Go 1.19 (a map iteration fault when
  # the API server encodes custom resources); 1.0.2, from Debian, is the upstream fix.
  rm -f "$work/src/vendor/github.com/modern-go/reflect2/"*.go
  cp "$reflect2/"*.go "$work/src/vendor/github.com/modern-go/reflect2/"
  echo "building kube-apiserver, kube-controller-manager, kube-scheduler (5 to 10 minutes)" >&2
  (cd "$work/src" && make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2)
  mkdir -p "$bin"
  for name in "${wanted[@]}"; do
    cp "$(find "$work/src/_output" -type f -name "$name" -perm -u+x | head -1)" "$bin/$name"
  done
  echo "$recipe" >"$bin/.recipe"
  rm -rf "$work"
fi
echo "$bin"
