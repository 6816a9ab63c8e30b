# Sets the cgo flags and library path for rnnrun's TensorFlow backend (build tag
# `tensorflow`). Source it, or eval what it prints when run:
#   source scripts/tf-env.sh && go test -tags tensorflow ./runtime/tensorflow/...
#   eval "$(bash scripts/tf-env.sh)"
# By default it uses the TensorFlow wheel in the project's virtualenv (created by
# scripts/setup-python.sh). To use a libtensorflow installed elsewhere (the C
# library tarball, or another wheel), set TF_LIB_DIR to the folder holding
# libtensorflow_framework.so.2 and libtensorflow.so.2 or libtensorflow_cc.so.2,
# and TF_INCLUDE_DIR to the folder holding tensorflow/c/c_api.h (default:
# $TF_LIB_DIR/include, then $TF_LIB_DIR/../include).
# It exports TF_LIB_DIR, TF_INCLUDE_DIR, CGO_CFLAGS, CGO_LDFLAGS, LD_LIBRARY_PATH.

_rnnrun_tf_env() {
  local here lib inc venv d main
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  lib="${TF_LIB_DIR:-}"
  inc="${TF_INCLUDE_DIR:-}"
  if [ -z "$lib" ]; then
    venv="$(bash "$here/setup-python.sh")" || return 1
    for d in "$venv"/lib/python3*/site-packages/tensorflow; do
      [ -f "$d/libtensorflow_framework.so.2" ] && lib="$d"
    done
    if [ -z "$lib" ]; then
      echo "tf-env: no TensorFlow wheel with libtensorflow_framework.so.2 under $venv/lib/python3*/site-packages/tensorflow; set TF_LIB_DIR" >&2
      return 1
    fi
  fi
  if [ ! -d "$lib" ]; then
    echo "tf-env: TF_LIB_DIR=$lib is not a folder" >&2
    return 1
  fi
  if [ -z "$inc" ]; then
    for d in "$lib/include" "$lib/../include"; do
      if [ -f "$d/tensorflow/c/c_api.h" ]; then inc="$(cd "$d" && pwd)"; break; fi
    done
  fi
  if [ -z "$inc" ] || [ ! -f "$inc/tensorflow/c/c_api.h" ]; then
    echo "tf-env: tensorflow/c/c_api.h not found (looked in ${inc:-$lib/include and $lib/../include}); set TF_INCLUDE_DIR" >&2
    return 1
  fi
  # The C library tarball ships libtensorflow.so.2; the pip wheel ships the same
  # C API inside libtensorflow_cc.so.2. Both need libtensorflow_framework.so.2.
  if [ -f "$lib/libtensorflow.so.2" ]; then
    main=libtensorflow.so.2
  elif [ -f "$lib/libtensorflow_cc.so.2" ]; then
    main=libtensorflow_cc.so.2
  else
    echo "tf-env: neither libtensorflow.so.2 nor libtensorflow_cc.so.2 in $lib" >&2
    return 1
  fi
  if [ ! -f "$lib/libtensorflow_framework.so.2" ]; then
    echo "tf-env: libtensorflow_framework.so.2 missing from $lib" >&2
    return 1
  fi
  TF_LIB_DIR="$lib"
  TF_INCLUDE_DIR="$inc"
  CGO_CFLAGS="-O2 -g -I$inc"
  CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib -l:$main -l:libtensorflow_framework.so.2"
  case ":${LD_LIBRARY_PATH:-}:" in
    *":$lib:"*) ;;
    *) LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
  esac
  export TF_LIB_DIR TF_INCLUDE_DIR CGO_CFLAGS CGO_LDFLAGS LD_LIBRARY_PATH
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  _rnnrun_tf_env
else
  set -euo pipefail
  _rnnrun_tf_env
  for v in TF_LIB_DIR TF_INCLUDE_DIR CGO_CFLAGS CGO_LDFLAGS LD_LIBRARY_PATH; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
fi
