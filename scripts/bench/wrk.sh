# Sourced by the bench scripts that run wrk.

# wrk_result LABEL, wrk's output on stdin: prints wrk's summary (throughput, p99, errors) to
# stderr under LABEL, and "requests/s p99-ms" to stdout; an answer other than 2xx fails the run.
wrk_result() {
  local label=$1 out
  out=$(cat)
  grep -E "Requests/sec|^ +99%|Non-2xx" <<<"$out" | sed "s|^|    $label: |" >&2
  if grep -q "Non-2xx" <<<"$out"; then echo "$label answered errors: not a measure" >&2; exit 1; fi
  awk '/Requests\/sec/ { rps = $2 }
       $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
                     else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
                     p99 = v }
       END { print rps, p99 }' <<<"$out"
}

# The median of numbers separated by spaces, on stdin.
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
