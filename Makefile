# rnnrun: `make run` generates text with the shipped model; `make test` runs every test.
SHELL := /bin/bash
export RNNRUN_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rnnrun
GO ?= go
# The native engine's SIMD kernels (runtime/native/kernel) are written with Go's
# simd/archsimd package, which exists only with this experiment on; without it a
# build gets the portable pure-Go kernels.
export GOEXPERIMENT ?= simd
BIN := bin/rnnrun
PY = $(shell bash scripts/setup-python.sh)/bin/python

.PHONY: all build run test test-go test-nocgo test-python lint setup setup-ort setup-python setup-testdata setup-browser export export-char export-image bench clean generate foreign-models plain-models fuzz

all: build

setup-ort:
	@bash scripts/setup-ort.sh

setup-python:
	@bash scripts/setup-python.sh >/dev/null

setup-testdata:
	@bash scripts/setup-testdata.sh

# The headless Chromium of the playground's browser tests (cmd/rnnrun/playground_test.go).
setup-browser:
	@bash scripts/setup-browser.sh

setup: setup-ort setup-python setup-testdata setup-browser

# Regenerates the TensorFlow backend's protobuf types from the wheel's schemas
# (protoc and protoc-gen-go through scripts/setup-protoc.sh); the output is committed.
.PHONY: gen-tfproto
gen-tfproto: setup-python
	bash scripts/gen-tfproto.sh

build:
	$(GO) build -o $(BIN) ./cmd/rnnrun

# The tutorial's temperature lesson: 400 characters at each of 0.2, 0.6 and 1.2.
run: setup-ort build
	./$(BIN) --model models/export/char.onnx --temp 0.2,0.6,1.2 --length 400

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: setup lint test-python test-go test-nocgo test-tf

# The cgo-free build (no ONNX Runtime, no TensorFlow: the native backend alone):
# vet, the cross-compiles, and the native backend's and model package's tests
# built with CGO_ENABLED=0. The cgo-free CLI (static binary, no shared library)
# is tested by cmd/rnnrun's TestNoCgo* in test-go.
.PHONY: test-nocgo
test-nocgo:
	CGO_ENABLED=0 $(GO) vet ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/rnnrun
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/rnnrun
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/rnnrun
	CGO_ENABLED=0 $(GO) test -count=1 ./runtime/native/... ./runtime/model/... ./runtime/onnx/... ./runtime/tensorflow/...

# Models made by other tools (PyTorch, Keras 3) for the native backend's tests, cached by
# the scripts' hash: the first run takes about a minute, later runs nothing.
foreign-models: setup-python setup-testdata
	@bash scripts/foreign-models.sh >/dev/null

# The tutorial's models and others exported the way a user would (no rnnrun metadata:
# Keras 3 model.export, SavedModel + tf2onnx, torch.onnx.export) with the frameworks'
# own reference outputs, for cmd/rnnrun's "bring your own model" tests; cached likewise.
plain-models: setup-python setup-testdata
	@bash scripts/plain-models.sh >/dev/null

# The race-enabled run evaluates 500 MNIST images per backend; the second line the full 10,000.
test-go: build foreign-models plain-models
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -tags purego ./runtime/native/kernel
	$(GO) test -count=1 -run 'TestEvalMatchesONNXRuntime' ./runtime/native/parity/
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...
	FUZZTIME=3s GO=$(GO) scripts/fuzz.sh

# Every fuzz target, longer than `make test` runs them (FUZZTIME=10m make fuzz for more).
fuzz:
	FUZZTIME=$${FUZZTIME:-1m} GO=$(GO) scripts/fuzz.sh

# The exporter's tests: bad input, the ONNX graphs, and a --fast export end to end into a
# temporary folder (about a minute on 2 cores); plus the contract checks on the shipped files.
test-python: setup-python
	$(PY) -m pytest -q pyexport

# The TensorFlow backend (build tag tensorflow), linked against the wheel in the
# virtualenv (scripts/tf-env.sh): SavedModel vs Keras and ONNX Runtime on the golden
# vectors, bad input, leaks, the CLI on both backends, then the speed comparison.
.PHONY: test-tf
test-tf: setup-ort setup-python
	source scripts/tf-env.sh && $(GO) vet -tags tensorflow ./runtime/tensorflow/... ./cmd/rnnrun/...
	source scripts/tf-env.sh && $(GO) test -race -tags tensorflow -count=1 ./runtime/tensorflow/...
	source scripts/tf-env.sh && $(GO) test -tags tensorflow -count=1 -run '^TestTF' ./cmd/rnnrun/
	source scripts/tf-env.sh && $(GO) test -tags tensorflow -run '^$$' -bench . -benchtime 20x ./runtime/tensorflow/...

# Retrains and re-exports every model into models/export: the character models
# (export-char: char and char_large, then the loss-curve plot docs/char-training.svg)
# and the image models (export-image: mnist and mnist_tf). Each keeps its log in
# models/export/export-char.log or export-image.log (the char log has the samples).
export: export-char export-image

export-char: setup-python
	set -o pipefail; $(PY) -m pyexport export --only char,char_large --out models/export 2>&1 | tee models/export/export-char.log.tmp && mv models/export/export-char.log.tmp models/export/export-char.log
	$(PY) -m pyexport plot --report models/export/export-report.json --svg docs/char-training.svg

export-image: setup-python
	set -o pipefail; $(PY) -m pyexport export --only mnist,mnist_tf --out models/export 2>&1 | tee models/export/export-image.log.tmp && mv models/export/export-image.log.tmp models/export/export-image.log

# The side-by-side speed comparison (a few minutes; not part of `make test`): rnnrun
# against Keras, TensorFlow and Python onnxruntime on the shipped models, in one run.
# Writes bench/results/, docs/benchmarks.md and docs/benchmarks.svg (scripts/bench.sh).
bench: setup-ort setup-python
	bash scripts/bench.sh

# Regenerates runtime/native/onnxpb/onnx.pb.go from Debian's onnx.proto with the pinned
# protoc-gen-go (scripts/setup-protoc.sh installs protoc, libonnx-dev and the plugin).
generate:
	PATH="$$(bash scripts/setup-protoc.sh):$$PATH" $(GO) generate ./runtime/native/onnxpb

clean:
	rm -rf bin
