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
# - ```sh firmware-model blocks (the guide's model on QEMU) run here, with `cargo firmware-test`
#   spelled as the `cargo run` it aliases (the alias lives in the repository's .cargo/, and these
#   commands run in the scratch directory); skipped without qemu-system-arm, except on CI.
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
ran_firmware_model=0
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
  if [[ "$tag" == "firmware-model" ]]; then
    if ! command -v qemu-system-arm >/dev/null; then
      [ -z "${CI:-}" ] || { echo "check-guide: qemu-system-arm is missing on CI" >&2; exit 1; }
      echo "check-guide: skipped \`$line\`: qemu-system-arm is not installed"
      continue
    fi
    [[ "$line" == "cargo firmware-test "* ]] || { echo "check-guide: unexpected firmware-model command \`$line\`" >&2; exit 1; }
    echo "cargo run -q --manifest-path \"$ROOT/Cargo.toml\" -p exactq-firmware-host --bin firmware-test -- ${line#cargo firmware-test }" >> "$script"
    ran_firmware_model=1
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
if [ "$ran_firmware_model" -eq 1 ]; then
  expect "model: outputs identical: 12/12"
  expect "flash            : 99484 B"
  expect "instructions/inference: 616021"
  grep -q 'id="firmware-match"' "$WORK/runs/digits-run/report.html" || { echo "check-guide: the report does not show the model's firmware figures" >&2; fail=1; }
fi
# The default run's report opens in a browser without network: headless Chromium's DOM.
chromium=""
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null; then chromium="$c"; break; fi
done
if [ -n "$chromium" ]; then
  "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --proxy-server=127.0.0.1:9 --user-data-dir="$WORK/chromium-profile" \
    --dump-dom "file://$WORK/runs/digits-run/report.html" > "$WORK/dom.html" 2> "$WORK/chromium.log" || true
  for id in layer-table confusion-matrix deployment-table loss-curve metric-curve histograms; do
    grep -q "id=\"$id\"" "$WORK/dom.html" || { echo "check-guide: $id missing from Chromium's DOM of the default run's report" >&2; fail=1; }
  done
  svgs=$(grep -o "<svg" "$WORK/dom.html" | wc -l)
  [ "$svgs" -ge 3 ] || { echo "check-guide: only $svgs charts in Chromium's DOM" >&2; tail -20 "$WORK/chromium.log" >&2; fail=1; }
  echo "check-guide: default run's report rendered by $chromium ($svgs charts in the DOM)"
else
  [ -z "${CI:-}" ] || { echo "check-guide: chromium is missing on CI" >&2; exit 1; }
  echo "check-guide: skipped the Chromium DOM check: chromium is not installed"
fi
if [ "$fail" -ne 0 ]; then
  cat "$WORK/out.txt"
  exit 1
fi
echo "check-guide: every command of docs/guide.md ran; quoted figures match"
