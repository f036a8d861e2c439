# Windows workload policies for Kubewarden.
#   make            build every policy module (wasm32-wasip1, release)
#   make run        build, then evaluate each module's sample manifests (the main job)
#   make test       unit tests and end-to-end tests in the waPC host (what CI runs)
#   make lint       cargo fmt --check and clippy -D warnings
#   make annotate   kwctl annotate each module with its metadata.yml (needs kwctl)
#   make push       kwctl push each annotated module to $(REGISTRY) (needs kwctl)
#   make check-versions  Cargo.toml, metadata.yml and artifacthub-pkg.yml agree
#   make rules-doc  regenerate docs/rules.md from the rule registry
#   make bench      evaluation time and size of each module in the waPC host

CARGO       ?= cargo
TARGET      := wasm32-wasip1
RELEASE_DIR := target/$(TARGET)/release
POLICIES    := $(notdir $(wildcard policies/*))
MODULES     := $(foreach p,$(POLICIES),$(RELEASE_DIR)/$(subst -,_,$(p)).wasm)
ANNOTATED   := target/annotated
CORPUS      := tests/corpus
EVAL        := $(CARGO) run --quiet --release -p wapc-test-host --bin policy-eval --
# The one version of every module: [workspace.package] version in Cargo.toml.
VERSION     := $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
# Where `make push` publishes: REGISTRY=ghcr.io/your-org/policies (no default).
REGISTRY    ?=
# The flagship's metadata.yml and artifacthub-pkg.yml are at the repository root.
FLAGSHIP    := windows-workloads

.PHONY: all build setup run run-corpus test e2e unit fmt lint annotate push check-versions \
	check-kwctl rules-doc bench clean

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

check-kwctl:
	@command -v kwctl >/dev/null 2>&1 || { \
	  echo "kwctl is not on PATH: install it (https://github.com/kubewarden/kwctl/releases)"; \
	  echo "to annotate and push the modules; nothing was annotated or pushed."; \
	  exit 1; }

# Every module's metadata.yml and artifacthub-pkg.yml carry VERSION (and agree on the name).
check-versions:
	@echo "version $(VERSION) (Cargo.toml [workspace.package])"
	$(CARGO) test --quiet -p wapc-test-host --test packaging -- versions

# Embeds each module's metadata (the flagship's: the root metadata.yml) and README.
annotate: check-kwctl check-versions build
	@mkdir -p $(ANNOTATED)
	@set -e; for p in $(POLICIES); do \
	  m=$$(echo $$p | tr - _); \
	  if [ $$p = $(FLAGSHIP) ]; then md=metadata.yml; else md=policies/$$p/metadata.yml; fi; \
	  kwctl annotate -m $$md -u policies/$$p/README.md \
	    -o $(ANNOTATED)/$$m.wasm $(RELEASE_DIR)/$$m.wasm; \
	  echo "annotated $(ANNOTATED)/$$m.wasm with $$md"; \
	done

# Pushes each annotated module to $(REGISTRY)/<module>:v$(VERSION).
push:
	@test -n "$(REGISTRY)" || { \
	  echo "REGISTRY is not set: make push REGISTRY=ghcr.io/your-org/policies"; exit 1; }
	@$(MAKE) --no-print-directory annotate
	@set -e; for p in $(POLICIES); do \
	  m=$$(echo $$p | tr - _); \
	  kwctl push $(ANNOTATED)/$$m.wasm $(REGISTRY)/$$p:v$(VERSION); \
	done

# The rule reference, generated from the registry; a test fails when it is stale.
rules-doc:
	$(CARGO) run --quiet -p windows-workload-rules --bin rules-doc

bench: build
	$(CARGO) bench -p wapc-test-host

clean:
	$(CARGO) clean
