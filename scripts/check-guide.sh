#!/usr/bin/env bash
# Runs every ```sh block of docs/guide.md, in order, in one shell, in a scratch copy of the
# working directory layout (the guide's commands run from the repository root and write runs/
# there; here runs/ lives in a temporary directory). Stops at the first failing command.
#
# Two blocks are not run verbatim, and the script says so:
# - the build command: `cargo build --release ...` is replaced by `cargo build --profile test
#   --bin exactq`, what `cargo test --workspace` has just built (target/debug), so the check adds
#   no compile time;
# - ```sh firmware blocks: their commands must appear in scripts/test-all.sh, whose firmware
#   stage runs them (running QEMU twice would double its cost).
# Then it checks the numbers the guide quotes against what the run printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
GUIDE="$ROOT/docs/guide.md"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Extract the blocks: "=== <tag>" headers followed by the block's lines.
awk '
  /^```sh/ { inblock = 1; tag = ($2 == "" ? "sh" : $2); print "=== " tag; next }
  /^```/ && inblock { inblock = 0; next }
  inblock { print }
' "$GUIDE" > "$WORK/blocks.txt"

script="$WORK/guide-commands.sh"
{
  echo 'set -euxo pipefail'
  echo "cd \"$WORK\""
} > "$script"
blocks=0
tag=""
while IFS= read -r line; do
  if [[ "$line" == "=== "* ]]; then
    tag="${line#=== }"
    blocks=$((blocks + 1))
    continue
  fi
  if [[ "$tag" == "firmware" ]]; then
    if [ ! -d firmware-tests ]; then
      echo "check-guide: skipped \`$line\`: firmware-tests/ is not in this tree"
      continue
    fi
    if ! grep -qxF "$line" scripts/test-all.sh; then
      echo "check-guide: firmware command \`$line\` is not run by scripts/test-all.sh" >&2
      exit 1
    fi
    echo "check-guide: \`$line\` runs in test-all.sh's firmware stage"
    continue
  fi
  case "$line" in
    "cargo build --release "*)
      echo "check-guide: building with the test profile instead of --release (already built by cargo test)"
      # Same package selection as `cargo test --workspace` (default members), so nothing rebuilds.
      echo "(cd \"$ROOT\" && cargo build -q --profile test --bin exactq)" >> "$script" ;;
    'export PATH="$PWD/target/release:$PATH"')
      echo "export PATH=\"$ROOT/target/debug:\$PATH\"" >> "$script" ;;
    *) echo "$line" >> "$script" ;;
  esac
done < "$WORK/blocks.txt"
echo "check-guide: $blocks command blocks from docs/guide.md"

bash "$script" > "$WORK/out.txt" 2>&1 || { cat "$WORK/out.txt"; echo "check-guide: a guide command failed" >&2; exit 1; }

# The figures the guide quotes, as printed by this run.
fail=0
expect() {
  if grep -qF -- "$1" "$WORK/out.txt"; then
    echo "check-guide: ok: $1"
  else
    echo "check-guide: MISSING from the run's output: $1" >&2
    fail=1
  fi
}
expect "digits-cnn on digits test: accuracy 98.88% (357 samples"
expect "digits-cnn (ptq) on digits test, device interpreter: accuracy 98.88% (357 samples, tflite-double)"
expect "parity: 357/357 outputs identical between trainer forward and device interpreter"
expect "QAT int8 test 98.88%"
expect "runs/digits/model.qmod: 11392 bytes, arena 2576 bytes"
expect "wrote runs/digits/model.onnx (13984 bytes, ONNX opset 13)"
expect "blob on digits test, device interpreter: accuracy 98.88% (357 samples)"
expect "wrote runs/digits/report.html"
expect "QAT INT8 accuracy            98.88%"
for f in runs/digits/report.html runs/digits-run/report.html runs/digits-run/summary.json runs/digits-run/history.json runs/digits/model.h; do
  [ -s "$WORK/$f" ] || { echo "check-guide: $f was not written" >&2; fail=1; }
done
for id in layer-table confusion-matrix deployment-table loss-curve; do
  grep -q "id=\"$id\"" "$WORK/runs/digits-run/report.html" || { echo "check-guide: report lacks $id" >&2; fail=1; }
done
if [ "$fail" -ne 0 ]; then
  cat "$WORK/out.txt"
  exit 1
fi
echo "check-guide: every command of docs/guide.md ran; quoted figures match"
