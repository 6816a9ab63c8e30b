# Sourced by scripts/load.sh and scripts/soak.sh: start_serve starts
# `bin/rnnrun serve` on 127.0.0.1 with the given arguments, logging to
# $tmp/out and $tmp/err, and waits until /readyz answers. It sets pid and base.
start_serve() {
  bin/rnnrun serve "$@" --listen 127.0.0.1:0 --log-level warn >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  base=""
  for _ in $(seq 1 300); do
    base="$(sed -n 's/^rnnrun: serving on //p' "$tmp/out")"
    [ -n "$base" ] && curl -sf "$base/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
    sleep 0.1
  done
  echo "serve: not ready after 30 s" >&2
  cat "$tmp/err" >&2
  exit 1
}
