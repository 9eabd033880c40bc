#!/usr/bin/env bash
# Installs the Debian packages the local cluster needs, only those missing.
set -euo pipefail
exec "$(dirname "$0")/../apt-install.sh" runc containernetworking-plugins iptables ipset conntrack git iproute2 kmod
