# shellcheck shell=bash
# step "what" LOG CMD...: runs CMD with its output in LOG and shows that it
# is working: on a terminal one updating line with the elapsed seconds and
# LOG's latest line; otherwise such a line every KSEED_PROGRESS_EVERY seconds
# (default 15), so a CI log shows life without a flood. On failure prints the
# end of LOG and exits with CMD's status. Sourced by scripts/setup.sh.
step() {
  local what=$1 log=$2
  shift 2
  local start=$SECONDS tty=0 last=$SECONDS rc=0 line every=${KSEED_PROGRESS_EVERY:-15}
  [ -t 1 ] && tty=1
  echo "== $what (log: $log)"
  "$@" >"$log" 2>&1 </dev/null &
  local pid=$!
  # polled every 0.2 s so a quick step ends at once; shown at most once a second
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.2
    if [ "$tty" = 1 ] && [ "$SECONDS" != "$last" ] || [ $((SECONDS - last)) -ge "$every" ]; then
      last=$SECONDS
      line=$(tail -n 1 "$log" 2>/dev/null | tr -d '\r' | cut -c1-70)
      if [ "$tty" = 1 ]; then
        printf '\r\033[K   %3ds  %s' $((SECONDS - start)) "$line"
      else
        printf '   %3ds  %s\n' $((SECONDS - start)) "$line"
      fi
    fi
  done
  wait "$pid" || rc=$?
  if [ "$tty" = 1 ]; then printf '\r\033[K'; fi
  if [ "$rc" != 0 ]; then
    echo "   failed after $((SECONDS - start)) s (exit $rc); the end of $log:"
    tail -n 50 "$log"
    exit "$rc"
  fi
  echo "   done in $((SECONDS - start)) s"
}
