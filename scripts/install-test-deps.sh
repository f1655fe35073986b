#!/usr/bin/env bash
# Installs the servers idsync's tests (and demo) run against, from Debian's
# packages, when they are missing. With arguments, only those: slapd, samba,
# postgres, chromium (the console's browser tests).
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(slapd samba postgres chromium)

pkgs=()
for w in "${want[@]}"; do
	case "$w" in
	slapd)
		command -v slapd >/dev/null || [ -x /usr/sbin/slapd ] || pkgs+=(slapd)
		command -v ldapsearch >/dev/null || pkgs+=(ldap-utils)
		;;
	samba)
		command -v samba >/dev/null || [ -x /usr/sbin/samba ] || pkgs+=(samba-ad-dc)
		command -v samba-tool >/dev/null || pkgs+=(samba-ad-dc)
		;;
	postgres)
		ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || pkgs+=(postgresql)
		;;
	chromium)
		command -v chromium >/dev/null || pkgs+=(chromium)
		;;
	*) echo "install-test-deps: unknown server $w" >&2; exit 2 ;;
	esac
done
[ ${#pkgs[@]} -eq 0 ] && exit 0

# de-duplicate
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: missing ${pkgs[*]}; run as root or: sudo apt-get install -y ${pkgs[*]}" >&2
	exit 1
fi
echo "install-test-deps: installing ${pkgs[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${pkgs[@]}"
# The packaged services are not needed (tests start their own servers).
for svc in slapd samba-ad-dc postgresql; do
	(service "$svc" stop || true) >/dev/null 2>&1
done
