# What every benchmark report says of where and when it was measured (sourced by the
# benchmarks/*.sh scripts).
bench_date() { date -u +%Y-%m-%dT%H:%MZ; }
bench_machine() { # the CPU model, its cores and memory
    printf '%s, %s cores (%s online), %s GiB\n' "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" \
        "$(nproc --all)" "$(free -g | awk '/Mem:/ {print $2}')"
}
