#!/usr/bin/env bash
# Usage: sudo tools/setup.sh [--init]
#
# Installs what kukeon needs on a Debian host: containerd, runc, CNI plugins, busybox-static (test image),
# iptables, iproute2, hyperfine (benchmarks) from Debian when missing, and the npm dependencies (npm ci).
# Then builds dist/ (kuke, kukeond). With --init it also installs `kuke` and `kukeond` in /usr/local/bin, makes
# sure containerd runs (systemd's unit, or a plain containerd process where there is no systemd), and runs
# `kuke init`. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(containerd runc containernetworking-plugins busybox-static iptables iproute2 hyperfine)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; re-run as root: sudo $0" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's containerd package starts a system containerd where systemd runs; kukeon's tests never use it
# (they start a private one), and kukeon in production uses whichever runs at --containerd-socket.

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building dist/ (kuke, kukeond)" >&2
npm run --silent build

if [[ "${1:-}" == "--init" ]]; then
  ln -sf "$PWD/dist/kuke.mjs" /usr/local/bin/kuke
  ln -sf "$PWD/dist/kukeond.mjs" /usr/local/bin/kukeond
  # A socket file alone proves nothing (a crashed containerd leaves it behind): ask containerd itself.
  containerd_answers() { timeout 5 ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; }
  if ! containerd_answers; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
      systemctl enable containerd
      systemctl restart containerd
    else
      echo "setup: no systemd here; starting containerd (log: /var/log/containerd.log)" >&2
      nohup containerd >/var/log/containerd.log 2>&1 &
    fi
    for _ in $(seq 1 100); do containerd_answers && break; sleep 0.1; done
    containerd_answers || { echo "setup: containerd does not answer on /run/containerd/containerd.sock; see /var/log/containerd.log or journalctl -u containerd" >&2; exit 1; }
  fi
  kuke init
fi
