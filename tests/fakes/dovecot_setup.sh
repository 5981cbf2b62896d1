#!/usr/bin/env bash
# A real IMAP server for the email tests: Debian's dovecot-imapd, run from a throwaway
# directory with its own minimal configuration (nothing under /etc is used or changed).
#
#   dovecot_setup.sh start DIR USER PASSWORD   installs dovecot-imapd if it is missing, writes
#                                              DIR/dovecot.conf, starts dovecot and prints the
#                                              IMAP port (plain text, 127.0.0.1 only) as the
#                                              last line of its output
#   dovecot_setup.sh stop DIR                  stops the dovecot started from DIR
#
# The configuration: IMAP only, on a free port of 127.0.0.1, no TLS, plaintext login allowed,
# one user in a passwd-file (DIR/users), mail in Maildir under DIR/mail. As root, the mail
# processes run as the package's `dovecot` user (dovecot refuses uid 0); otherwise everything
# runs as the calling user.
set -euo pipefail

PATH="$PATH:/usr/sbin:/sbin"

usage() {
    echo "usage: $0 start DIR USER PASSWORD | stop DIR" >&2
    exit 2
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

install_dovecot() {
    if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]; then
        return
    fi
    echo "installing dovecot-imapd" >&2
    as_root apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends dovecot-imapd >&2
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_for_port() {
    python3 - "$1" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as sock:
            if sock.recv(64).startswith(b"* OK"):
                sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

start() {
    local dir user password port mail_user mail_uid mail_gid internal_user login_user
    dir=$(cd "$1" && pwd)
    user=$2
    password=$3
    if [ -f "$dir/run/master.pid" ] && kill -0 "$(cat "$dir/run/master.pid")" 2>/dev/null; then
        echo "a dovecot started from $dir is already running" >&2
        exit 1
    fi
    install_dovecot
    if [ "$(id -u)" -eq 0 ]; then
        mail_user=dovecot
        internal_user=dovecot
        login_user=dovenull
        # The unprivileged dovecot processes must reach DIR (pytest's and mktemp's are 0700).
        chmod 0755 "$dir"
    else
        mail_user=$(id -un)
        internal_user=$mail_user
        login_user=$mail_user
    fi
    mail_uid=$(id -u "$mail_user")
    mail_gid=$(id -g "$mail_user")
    port=$(free_port)
    mkdir -p "$dir/mail" "$dir/home" "$dir/run" "$dir/state"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$mail_uid:$mail_gid" "$dir/mail" "$dir/home"
    fi
    printf '%s:{PLAIN}%s\n' "$user" "$password" >"$dir/users"
    chmod 0644 "$dir/users"
    cat >"$dir/dovecot.conf" <<EOF
# Written by tests/fakes/dovecot_setup.sh: a throwaway IMAP server for the tests.
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = $internal_user
default_login_user = $login_user
first_valid_uid = 1
mail_location = maildir:$dir/mail/%u
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$dir/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
    if [ "$(id -u)" -ne 0 ]; then
        # Without root: no chroot for the login processes, sockets in the caller's group.
        cat >>"$dir/dovecot.conf" <<EOF
default_internal_group = $(id -gn)
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
EOF
    fi
    # dovecot keeps the descriptors it started with: give it none of our caller's pipes.
    if ! dovecot -c "$dir/dovecot.conf" </dev/null >"$dir/start.log" 2>&1; then
        cat "$dir/start.log" >&2
        exit 1
    fi
    if ! wait_for_port "$port"; then
        echo "dovecot did not answer on 127.0.0.1:$port; its log:" >&2
        cat "$dir/dovecot.log" >&2 || true
        exit 1
    fi
    echo "$port"
}

stop() {
    local dir
    dir=$(cd "$1" && pwd)
    if [ -f "$dir/run/master.pid" ]; then
        dovecot -c "$dir/dovecot.conf" stop || true
    fi
}

case "${1:-}" in
start)
    [ $# -eq 4 ] || usage
    start "$2" "$3" "$4"
    ;;
stop)
    [ $# -eq 2 ] || usage
    stop "$2"
    ;;
*) usage ;;
esac
