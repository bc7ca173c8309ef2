#!/usr/bin/env bash
# Installs the system packages moat's tests (and, with --bench, its benchmarks) need, from Debian's
# packages, when they are missing. Idempotent and quiet when everything is already there.
# The tests start their own servers on free ports; nothing here starts or configures a service.
set -euo pipefail

want=(
  mariadb-server mariadb-client   # the real backend the tests start privately, and the mariadb CLI
  php-cli php-mysql               # PHP's mysqli / PDO driver (client matrix)
  libdbd-mariadb-perl             # Perl DBD::MariaDB (client matrix)
  python3-pymysql                 # Python PyMySQL (client matrix), used via /usr/bin/python3
  openssl                         # test certificates generated at test time
  chromium                        # headless browser for the dashboard test (/usr/bin/chromium)
  fail2ban                        # fail2ban-regex + stock filter.d/mysqld-auth.conf (auth-log test)
  libxml2-utils                   # xmllint: the Enterprise Audit XML test parses the files back
  sysbench                        # ordinary application traffic that detection must not flag
  redis-server                    # the shared state of a moat fleet (tests start their own, on a free port)
  nftables                        # nft: the firewall mirror of blocks (tested in network namespaces)
  iproute2                        # ip netns / veth for the firewall tests
)
if [[ "${1:-}" == "--bench" ]]; then
  want+=(haproxy)                 # the plain TCP proxy the benchmarks compare against
fi

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup-system: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup-system: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
    exit 1
  fi
else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The Debian postinst of mariadb-server tries to start a service; policy-rc.d keeps it from doing so
# on machines without systemd, and our tests never use a system-wide server.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
