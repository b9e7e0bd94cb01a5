#!/usr/bin/env bash
# Installs the Debian packages corral's tests and `make run` use, on a Debian 12
# machine. Idempotent: every package is checked with `dpkg -s` first, so on a
# machine that has them all this does nothing and needs no network.
#
# As root: `apt-get update` once (only if something is missing), then one
# `apt-get install -y` of the missing packages.
# Not root: prints what is missing and exits 0 (unit tests need none of these;
# the tests that do skip or fail with their own message).
set -euo pipefail

PACKAGES=(
  etcd-server                 # external etcd for --datastore-endpoint tests
  etcd-client
  containerd                  # CRI runtime for the node agent
  runc
  containernetworking-plugins # CNI plugins in /usr/lib/cni
  iproute2                    # netns, veth, bridges
  iptables
  nftables
  busybox-static              # test images
  docker-registry             # local OCI registry for image-pull tests
  python3-kubernetes          # the official Python client as a test client
  chromium                    # headless dashboard tests
  chromium-driver
)

if ! command -v dpkg >/dev/null 2>&1; then
  echo "install-deps: dpkg not found (not a Debian machine?); skipping" >&2
  exit 0
fi

installed() {
  # `dpkg -s` exits 0 also for removed-but-not-purged packages: compare the
  # status itself (and avoid `dpkg -s | grep -q`, which SIGPIPEs under pipefail).
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: not root; missing packages (install them as root for integration/e2e tests):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (another checkout on the same machine) instead of failing.
APT_OPTS=(-q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
apt-get "${APT_OPTS[@]}" update
apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "${missing[@]}"

# Without systemd, a package's postinst may start its daemon through its init
# script (unless /usr/sbin/policy-rc.d forbids it). Tests start their own etcd,
# containerd and registry on ports of their own, so stop the daemons of the
# packages installed just now (never ones that were already there).
stop_if_new() { # package service
  local p
  for p in "${missing[@]}"; do
    if [[ $p == "$1" && -x /etc/init.d/$2 ]]; then
      /etc/init.d/"$2" stop >/dev/null 2>&1 || true
    fi
  done
}
stop_if_new etcd-server etcd
stop_if_new containerd containerd
stop_if_new docker-registry docker-registry

still=()
for p in "${missing[@]}"; do
  installed "$p" || still+=("$p")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "install-deps: failed to install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps: done"
