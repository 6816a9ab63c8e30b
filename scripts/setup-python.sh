#!/usr/bin/env bash
# Creates the exporter's virtualenv in the cache, keyed by the lock file's hash,
# and installs the pinned packages with pip. Idempotent: a complete venv is reused.
# Prints the venv's path on stdout.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ ! -f "$VENV/.complete" ]; then
  echo "setup-python: creating $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/pyexport/requirements.lock" >&2
  touch "$VENV/.complete"
fi
echo "$VENV"
