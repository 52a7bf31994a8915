# mlship: two commands on a fresh Debian machine with Go.
#   make run    provision ONNX Runtime, build, serve the example model on 127.0.0.1:8080
#   make test   provision what the tests need, run the whole suite
SHELL := /bin/bash
GO ?= go
BIN := bin/mlship
HOST ?= 127.0.0.1
PORT ?= 8080
MODEL ?= examples/iris-onnx/model
FUZZTIME ?= 5s

.PHONY: all setup build run test unit fuzz bench vet clean

all: build

setup:
	@scripts/setup.sh run

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/mlship

run: setup build
	@echo
	@echo "Serving $(MODEL) on http://$(HOST):$(PORT) (Ctrl-C to stop). In another terminal:"
	@echo
	@echo "  curl -s http://$(HOST):$(PORT)/invocations -H 'Content-Type: application/json' -d '{\"inputs\": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}'"
	@echo
	@exec $(BIN) serve $(MODEL) --host $(HOST) --port $(PORT)

test:
	@scripts/setup.sh test
	$(MAKE) vet unit fuzz

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 20m ./...

# Every fuzz target runs for FUZZTIME on top of its seed corpus.
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

bench: setup
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
