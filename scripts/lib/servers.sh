# shellcheck shell=bash
# Private RabbitMQ and Redis servers for the tests (Debian packages, run as root or a normal user).
#
# Sourced by scripts/test and scripts/lib/rabbitmq-ctl. Nothing here touches the system-wide
# servers: every node gets its own loopback ports, data directories, Erlang cookie and even its
# own epmd port, so several test runs can share one machine and all is gone after stop_*.
#
#   setup_rabbitmq DIR   pick ports, write config under DIR, export RABBITMQ_* for this node
#   start_rabbitmq       start the node described by the exported env and wait until it answers
#   stop_rabbitmq        stop it, kill what is left of it and its private epmd
#   rabbitmq_ctl ARGS    rabbitmqctl -n "$RABBITMQ_NODENAME" ARGS, as the node's user and cookie
#   start_redis DIR [TLS_DIR]  start redis-server on a free port, data in DIR; exports
#                        REDIS_TEST_PORT (and, with TLS_DIR from make_test_certs, a TLS port
#                        REDIS_TEST_TLS_PORT)
#   stop_redis           shut it down (nosave) and kill the pid if it lingers

# Print N distinct free loopback TCP ports (all bound at once, so they differ).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# RabbitMQ's real scripts (the /usr/sbin wrappers `su` to rabbitmq and reset HOME to
# /var/lib/rabbitmq, which would defeat the private cookie).
_RMQ_BIN=/usr/lib/rabbitmq/bin
[[ -x $_RMQ_BIN/rabbitmq-server ]] || _RMQ_BIN=$(dirname "$(command -v rabbitmq-server || echo /usr/sbin/x)")
# As root, the server must run as `rabbitmq` (it refuses root-owned data otherwise); keep the env.
_RMQ_AS=()
[[ $(id -u) == 0 ]] && _RMQ_AS=(setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups)

# _rmq [--timeout SECS] SCRIPT ARGS...: run a RabbitMQ script with the node's HOME and user.
_rmq() {
  local pre=()
  if [[ $1 == --timeout ]]; then pre=(timeout "$2"); shift 2; fi
  local script=$1; shift
  # cd: the rabbitmq user may not be able to read the caller's working directory.
  (cd "$RICHMOND_TEST_RABBITMQ_DIR" &&
    HOME="$RICHMOND_TEST_RABBITMQ_DIR/home" exec "${pre[@]}" "${_RMQ_AS[@]}" "$_RMQ_BIN/$script" "$@")
}

# make_test_certs DIR: a throwaway CA (ca.pem) and a server certificate for localhost and
# 127.0.0.1 signed by it (server.pem, server.key), valid two days.
make_test_certs() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
    -subj /CN=richmond-test-ca >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
    -subj /CN=localhost >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.pem" -days 2 -extfile "$d/san.ext" >/dev/null 2>&1
  chmod 644 "$d"/*
}

rabbitmq_ctl() { _rmq --timeout 60 rabbitmqctl -n "$RABBITMQ_NODENAME" "$@"; }

setup_rabbitmq() {
  local dir=$1 port dist epmd tls_port
  read -r port dist epmd tls_port <<<"$(free_ports 4)"
  mkdir -p "$dir"/{home,mnesia,log,plugins-expand,generated,schema,quorum,stream}
  export RICHMOND_TEST_RABBITMQ_DIR=$dir RICHMOND_TEST_AMQP_PORT=$port
  export RABBITMQ_NODENAME="richmondtest${port}@localhost"
  export RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd
  export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
  export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
  export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
  export RABBITMQ_CONFIG_FILE=$dir/rabbitmq # RabbitMQ appends .conf
  export RABBITMQ_FEATURE_FLAGS_FILE=$dir/feature_flags
  export RABBITMQ_PLUGINS_EXPAND_DIR=$dir/plugins-expand
  export RABBITMQ_GENERATED_CONFIG_DIR=$dir/generated RABBITMQ_SCHEMA_DIR=$dir/schema
  export RABBITMQ_QUORUM_DIR=$dir/quorum RABBITMQ_STREAM_DIR=$dir/stream
  export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf # empty: ignore /etc/rabbitmq's
  : >"$RABBITMQ_CONF_ENV_FILE"
  echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$port" \
    >"$RABBITMQ_CONFIG_FILE.conf"
  # A TLS listener too, with a private CA made here (for the amqps:// tests).
  make_test_certs "$dir/tls"
  export RICHMOND_TEST_AMQPS_PORT=$tls_port RICHMOND_TEST_TLS_CA=$dir/tls/ca.pem
  printf '%s\n' "listeners.ssl.default = 127.0.0.1:$tls_port" \
    "ssl_options.cacertfile = $dir/tls/ca.pem" "ssl_options.certfile = $dir/tls/server.pem" \
    "ssl_options.keyfile = $dir/tls/server.key" "ssl_options.verify = verify_none" \
    "ssl_options.fail_if_no_peer_cert = false" >>"$RABBITMQ_CONFIG_FILE.conf"
  # Pre-create the cookie so the server and rabbitmqctl never race to make two. Reuse the
  # system one when present, so the stock /usr/sbin/rabbitmqctl (which uses it) works too.
  if [[ -r /var/lib/rabbitmq/.erlang.cookie ]]; then
    cp /var/lib/rabbitmq/.erlang.cookie "$dir/home/.erlang.cookie"
  else
    python3 -c 'import random,string; print("".join(random.choices(string.ascii_uppercase, k=20)), end="")' \
      >"$dir/home/.erlang.cookie"
  fi
  chmod 400 "$dir/home/.erlang.cookie"
  [[ $(id -u) == 0 ]] && chown -R rabbitmq:rabbitmq "$dir"
  return 0
}

start_rabbitmq() {
  local log=$RABBITMQ_LOG_BASE/startup.log
  # Own session: Ctrl-C in the terminal must not reach it; our trap stops it cleanly.
  # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
  setsid "${_RMQ_AS[@]}" env HOME="$RICHMOND_TEST_RABBITMQ_DIR/home" \
    bash -c 'cd "$1" && exec "$2"' _ "$RICHMOND_TEST_RABBITMQ_DIR" "$_RMQ_BIN/rabbitmq-server" \
    >>"$log" 2>&1 </dev/null &
  local server=$! deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    if _rmq --timeout 10 rabbitmqctl -n "$RABBITMQ_NODENAME" -q status >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$server" 2>/dev/null || break # it died: no point waiting
    sleep 1
  done
  echo "error: RabbitMQ node $RABBITMQ_NODENAME did not start; last log lines:" >&2
  local f
  for f in "$log" "$RABBITMQ_LOG_BASE"/*.log; do
    [[ -f $f ]] && { echo "--- $f" >&2; tail -n 50 "$f" >&2; }
  done
  return 1
}

# The node's OS processes still alive: beam (its command line holds our private -home) and
# the pid file's, plus any pids given.
_rabbitmq_pids() {
  local pid
  for pid in "$@" $(pgrep -f -- "-home $RICHMOND_TEST_RABBITMQ_DIR/home") \
    $(cat "$RABBITMQ_PID_FILE" 2>/dev/null); do
    if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
  done | sort -u
}

stop_rabbitmq() {
  [[ -n ${RABBITMQ_NODENAME:-} ]] || return 0
  local pids i
  pids=$(_rabbitmq_pids)
  _rmq --timeout 60 rabbitmqctl -n "$RABBITMQ_NODENAME" -q stop >/dev/null 2>&1 || true
  # `stop` returns before beam has exited: wait for it, then TERM (10 s) and KILL (15 s).
  for ((i = 0; i < 100; i++)); do
    # shellcheck disable=SC2086
    pids=$(_rabbitmq_pids $pids)
    [[ -z $pids ]] && break
    # shellcheck disable=SC2086
    case $i in 50) kill $pids 2>/dev/null || true ;; 75) kill -9 $pids 2>/dev/null || true ;; esac
    sleep 0.2
  done
  # The private epmd (started by the node on ERL_EPMD_PORT) outlives the node.
  timeout 10 epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  return 0
}

start_redis() {
  local dir=$1 tls_dir=${2:-} i tls=()
  mkdir -p "$dir"
  export REDIS_TEST_PORT REDIS_TEST_DIR=$dir
  # Both ports from one call, so they differ.
  export REDIS_TEST_TLS_PORT
  read -r REDIS_TEST_PORT REDIS_TEST_TLS_PORT <<<"$(free_ports 2)"
  if [[ -n $tls_dir ]]; then
    tls=(--tls-port "$REDIS_TEST_TLS_PORT" --tls-cert-file "$tls_dir/server.pem"
      --tls-key-file "$tls_dir/server.key" --tls-ca-cert-file "$tls_dir/ca.pem"
      --tls-auth-clients no)
  fi
  redis-server --port "$REDIS_TEST_PORT" --bind 127.0.0.1 --dir "$dir" --save '' \
    --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    "${tls[@]}" >/dev/null
  for ((i = 0; i < 150; i++)); do
    [[ $(redis-cli -p "$REDIS_TEST_PORT" ping 2>/dev/null) == PONG ]] && return 0
    sleep 0.2
  done
  echo "error: redis-server on port $REDIS_TEST_PORT did not answer within 30 s:" >&2
  tail -n 50 "$dir/redis.log" >&2 || true
  return 1
}

stop_redis() {
  [[ -n ${REDIS_TEST_PORT:-} ]] || return 0
  timeout 10 redis-cli -p "$REDIS_TEST_PORT" shutdown nosave >/dev/null 2>&1 || true
  local pid
  pid=$(cat "$REDIS_TEST_DIR/redis.pid" 2>/dev/null) || return 0
  sleep 0.5
  kill "$pid" 2>/dev/null && { sleep 1; kill -9 "$pid" 2>/dev/null; }
  return 0
}
