# rnnrun: `make run` generates text with the shipped model; `make test` runs every test.
SHELL := /bin/bash
export RNNRUN_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rnnrun
GO ?= go
BIN := bin/rnnrun
PY = $(shell bash scripts/setup-python.sh)/bin/python

.PHONY: all build run test test-go test-python lint setup setup-ort setup-python setup-testdata export bench clean

all: build

setup-ort:
	@bash scripts/setup-ort.sh

setup-python:
	@bash scripts/setup-python.sh >/dev/null

setup-testdata:
	@bash scripts/setup-testdata.sh

setup: setup-ort setup-python setup-testdata

build:
	$(GO) build -o $(BIN) ./cmd/rnnrun

run: setup-ort build
	./$(BIN) --model models/export/char.onnx --temp 1.2 --length 500

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: setup lint test-python test-go

test-go: build
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -bench . -benchtime 20x ./...

test-python: setup-python
	cd pyexport && $(PY) -m pytest -q

export: setup-python
	$(PY) -m pyexport export --out models/export

clean:
	rm -rf bin
