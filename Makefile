# Windows workload policies for Kubewarden.
#   make            build every policy module (wasm32-wasip1, release)
#   make run        build, then evaluate each module's sample manifests (the main job)
#   make test       unit tests and end-to-end tests in the waPC host (what CI runs)
#   make lint       cargo fmt --check and clippy -D warnings
#   make annotate   kwctl annotate each module with its metadata.yml
#   make bench      evaluation time and size of each module in the waPC host

CARGO       ?= cargo
TARGET      := wasm32-wasip1
RELEASE_DIR := target/$(TARGET)/release
POLICIES    := $(notdir $(wildcard policies/*))
MODULES     := $(foreach p,$(POLICIES),$(RELEASE_DIR)/$(subst -,_,$(p)).wasm)
ANNOTATED   := target/annotated
CORPUS      := tests/corpus
EVAL        := $(CARGO) run --quiet --release -p wapc-test-host --bin policy-eval --

.PHONY: all build setup run run-corpus test e2e unit fmt lint annotate bench clean

all: build

setup:
	rustup target add $(TARGET)

build: setup
	$(CARGO) build --release --target $(TARGET) $(foreach p,$(POLICIES),-p $(p))
	@ls -l $(MODULES)

# The main job: every module evaluates its own sample manifests with its example settings.
run: build
	@for p in $(POLICIES); do \
	  echo "=== $$p"; \
	  $(EVAL) --module $(RELEASE_DIR)/$$(echo $$p | tr - _).wasm \
	    --settings policies/$$p/settings.example.yaml policies/$$p/test_data || exit $$?; \
	done

# Every module over the real-world corpus, with default settings.
run-corpus: build
	@for p in $(POLICIES); do \
	  echo "=== $$p"; \
	  $(EVAL) --module $(RELEASE_DIR)/$$(echo $$p | tr - _).wasm $(CORPUS) || exit $$?; \
	done

# Unit tests of the rule crate and the end-to-end tests (which build the modules
# themselves, or use WASM_MODULES_DIR when it is set).
test: build
	WASM_MODULES_DIR=$(CURDIR)/$(RELEASE_DIR) $(CARGO) test --workspace

unit:
	$(CARGO) test -p windows-workload-rules

e2e: build
	WASM_MODULES_DIR=$(CURDIR)/$(RELEASE_DIR) $(CARGO) test -p wapc-test-host

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

annotate: build
	@if ! command -v kwctl >/dev/null 2>&1; then \
	  echo "kwctl is not on PATH: install it (https://github.com/kubewarden/kwctl/releases) to annotate the modules."; \
	  exit 1; \
	fi
	@mkdir -p $(ANNOTATED)
	@for p in $(POLICIES); do \
	  m=$$(echo $$p | tr - _); \
	  kwctl annotate -m policies/$$p/metadata.yml -u policies/$$p/README.md \
	    -o $(ANNOTATED)/$$m.wasm $(RELEASE_DIR)/$$m.wasm || exit $$?; \
	  echo "annotated $(ANNOTATED)/$$m.wasm"; \
	done

bench: build
	$(CARGO) bench -p wapc-test-host

clean:
	$(CARGO) clean
