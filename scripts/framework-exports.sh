# Shared by scripts/plain-models.sh and scripts/foreign-models.sh (source it):
# framework_exports runs a Python script's two halves, "torch" with Debian's
# python3-torch and "keras" in the project's venv with tf2onnx installed beside
# it, into $RNNRUN_CACHE/NAME-<hash>, keyed by the hash of the script, its shell
# wrapper, this file and KEY, and prints that folder. A second run finds it
# complete and does nothing. A function keras_args, when the caller defines
# one, prints one extra argument for the keras half (run only when exporting).
#
# usage: framework_exports NAME SCRIPT TF2ONNX_VERSION KEY
framework_exports() {
  local name=$1 script=$2 tf2onnx=$3 key=$4
  local hash out venv deps extra=()
  hash="$( (cat "$script" "$0" "${BASH_SOURCE[0]}"; echo "$key") | sha256sum | cut -c1-12)"
  out="$RNNRUN_CACHE/$name-$hash"
  if [ ! -f "$out/.complete" ]; then
    /usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "$name: Debian's python3-torch is missing (run scripts/setup-testdata.sh)" >&2; exit 1; }
    venv="$(bash "$ROOT/scripts/setup-python.sh")"
    if declare -F keras_args >/dev/null; then extra=("$(keras_args)"); fi
    # tf2onnx is not in the exporter's lock file: install it beside the venv
    # (its dependencies are already in the venv).
    deps="$RNNRUN_CACHE/tf2onnx-$tf2onnx"
    if [ ! -f "$deps/.complete" ]; then
      rm -rf "$deps"
      "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$deps" "tf2onnx==$tf2onnx" >&2
      touch "$deps/.complete"
    fi
    rm -rf "$out.tmp"
    /usr/bin/python3 "$script" torch "$out.tmp" 2>"$out.torch.log" || { cat "$out.torch.log" >&2; exit 1; }
    PYTHONPATH="$deps" TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$script" keras "$out.tmp" "${extra[@]}" 2>"$out.keras.log" || { cat "$out.keras.log" >&2; exit 1; }
    touch "$out.tmp/.complete"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    echo "$name: exported into $out" >&2
  fi
  echo "$out"
}
