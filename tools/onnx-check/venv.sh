#!/usr/bin/env bash
# Creates (once) the cached venv with onnx, onnxruntime and openvino; prints its python path.
# Exit 3 (with a message on stderr) when PyPI cannot be reached and no venv exists yet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${EXACTQ_ONNX_VENV:-$root/.venv-onnx}"
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$here/requirements.txt" "$stamp"; then
  echo "$venv/bin/python"
  exit 0
fi
if ! python3 -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/onnx/", timeout=10)' >/dev/null 2>&1; then
  echo "PyPI is unreachable and $venv does not exist" >&2
  exit 3
fi
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
cp "$here/requirements.txt" "$stamp"
echo "$venv/bin/python"
