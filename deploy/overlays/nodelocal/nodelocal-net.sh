#!/bin/sh
# The network setup a node-local DNS cache needs, as NodeLocal DNSCache's node-cache does it:
#   - an interface (dummy, named nodelocaldns) holding each address of LOCAL_IPS as a /32, so the
#     cache on the host network can bind them and pods' queries to them are delivered locally;
#   - NOTRACK rules in the raw table (and ACCEPT rules in filter) for DNS (53/udp, 53/tcp) to and
#     from those addresses and for the health port, so these packets skip conntrack: no conntrack
#     entries to exhaust, no DNAT races, no 5 s timeouts from dropped UDP inserts.
#
#   nodelocal-net.sh setup      add what is missing and exit (an init container: before the cache binds)
#   nodelocal-net.sh teardown   remove the rules and the interface
#   nodelocal-net.sh run        setup, re-check every SYNC_SECONDS (as node-cache does, in case
#                               something flushed the rules), and teardown on SIGTERM/SIGINT
# Environment: LOCAL_IPS (comma or space separated; default 169.254.20.10), IFACE (nodelocaldns),
# HEALTH_PORT (8080), SYNC_SECONDS (60), IPTABLES (iptables). Needs ip (iproute2) and iptables,
# and CAP_NET_ADMIN (+ CAP_NET_RAW for iptables) in the host network namespace.
set -u
LOCAL_IPS=$(echo "${LOCAL_IPS:-169.254.20.10}" | tr ',' ' ')
IFACE=${IFACE:-nodelocaldns}
HEALTH_PORT=${HEALTH_PORT:-8080}
SYNC_SECONDS=${SYNC_SECONDS:-60}
IPT=${IPTABLES:-iptables}

log() { echo "nodelocal-net: $*"; }

# Every rule as "TABLE CHAIN MATCH... TARGET"; the same list drives setup and teardown.
rules() {
  for ip in $LOCAL_IPS; do
    for proto in udp tcp; do
      echo "raw PREROUTING -d $ip/32 -p $proto -m $proto --dport 53 -j NOTRACK"
      echo "raw OUTPUT -s $ip/32 -p $proto -m $proto --sport 53 -j NOTRACK"
      echo "raw OUTPUT -d $ip/32 -p $proto -m $proto --dport 53 -j NOTRACK"
      echo "filter INPUT -d $ip/32 -p $proto -m $proto --dport 53 -j ACCEPT"
      echo "filter OUTPUT -s $ip/32 -p $proto -m $proto --sport 53 -j ACCEPT"
    done
    echo "raw PREROUTING -d $ip/32 -p tcp -m tcp --dport $HEALTH_PORT -j NOTRACK"
    echo "raw OUTPUT -s $ip/32 -p tcp -m tcp --sport $HEALTH_PORT -j NOTRACK"
    echo "raw OUTPUT -d $ip/32 -p tcp -m tcp --dport $HEALTH_PORT -j NOTRACK"
  done
}

setup_iface() {
  if ! ip link show "$IFACE" >/dev/null 2>&1; then
    if ! ip link add "$IFACE" type dummy 2>/dev/null; then
      # a kernel without the dummy driver: an empty bridge holds local addresses the same way
      ip link add "$IFACE" type bridge || return 1
      log "no dummy interface support; $IFACE is an empty bridge"
    fi
  fi
  ip link set "$IFACE" up || return 1
  for ip in $LOCAL_IPS; do
    ip -4 addr show dev "$IFACE" | grep -q "inet $ip/32" || ip addr add "$ip/32" dev "$IFACE" || return 1
  done
}

setup_rules() {
  rules | while read -r table chain spec; do
    # shellcheck disable=SC2086
    $IPT -w -t "$table" -C "$chain" $spec 2>/dev/null || $IPT -w -t "$table" -I "$chain" 1 $spec || exit 1
  done
}

setup() {
  setup_iface || { log "could not set up $IFACE"; return 1; }
  setup_rules || { log "could not add the iptables rules"; return 1; }
}

teardown() {
  rules | while read -r table chain spec; do
    # shellcheck disable=SC2086
    while $IPT -w -t "$table" -C "$chain" $spec 2>/dev/null; do $IPT -w -t "$table" -D "$chain" $spec || break; done
  done
  ip link del "$IFACE" 2>/dev/null
  log "removed $IFACE and its rules"
}

case "${1:-}" in
  setup)
    setup || exit 1
    log "ready: $IFACE holds $LOCAL_IPS"
    ;;
  teardown)
    teardown
    ;;
  run)
    sleeper=
    stop() {
      [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
      teardown
      exit 0
    }
    trap stop TERM INT
    setup || exit 1
    log "ready: $IFACE holds $LOCAL_IPS"
    while :; do
      sleep "$SYNC_SECONDS" &
      sleeper=$!
      wait "$sleeper"
      sleeper=
      setup || log "re-check failed; retrying in ${SYNC_SECONDS}s"
    done
    ;;
  *)
    echo "usage: nodelocal-net.sh setup|teardown|run" >&2
    exit 2
    ;;
esac
