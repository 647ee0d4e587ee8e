#!/usr/bin/env bash
# Boots a firmware ELF on QEMU mps2-an386 (Cortex-M4F) and exits with the firmware's exit code:
#   0 pass, 1 output mismatch, 2 panic, 3 HardFault, 4 core error,
#   124 hung guest (killed by timeout), 134 QEMU abort (CPU lockup: bad vector table or stack).
# Used as cargo's runner for the thumb targets (.cargo/config.toml) and by `cargo firmware-test`.
#
# Environment:
#   EXACTQ_QEMU_TIMEOUT  seconds before a hung guest is killed (default 120)
#   EXACTQ_INSNS=1       load the instruction-count plugin (tools/insncount.c, built on first use);
#                        its lines ("insncount: ...") go to stderr after QEMU exits
#   EXACTQ_INSN_MARK     address of `bench_mark` (found with readelf when unset)
set -euo pipefail
elf="$1"
shift
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none
      -semihosting-config enable=on,target=native -kernel "$elf")

if [[ "${EXACTQ_INSNS:-0}" == 1 ]]; then
  # QEMU 7.2..8.x load plugin API version 1; QEMU 9 and later require at least 2.
  major=$(qemu-system-arm --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
  api=1
  if (( major >= 9 )); then api=2; fi
  plugin_dir="${CARGO_TARGET_DIR:-$tools/../../target}/qemu-plugins"
  plugin="$plugin_dir/insncount-api$api.so"
  if [[ ! -f "$plugin" || "$tools/insncount.c" -nt "$plugin" ]]; then
    mkdir -p "$plugin_dir"
    cc -O2 -shared -fPIC -DPLUGIN_API="$api" -o "$plugin.tmp" "$tools/insncount.c"
    mv "$plugin.tmp" "$plugin"
  fi
  mark="${EXACTQ_INSN_MARK:-}"
  if [[ -z "$mark" ]]; then
    mark=$(readelf -sW "$elf" | awk '$8 == "bench_mark" { print "0x" $2; exit }')
  fi
  log=$(mktemp)
  trap 'cat "$log" >&2; rm -f "$log"' EXIT
  qemu+=(-plugin "$plugin${mark:+,mark=$mark}" -d plugin -D "$log")
fi

timeout "${EXACTQ_QEMU_TIMEOUT:-120}" "${qemu[@]}" "$@"
