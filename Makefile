# Windows workload policies for Kubewarden.
#   make            build every policy module (wasm32-wasip1, release)
#   make run        build, then evaluate each module's sample manifests (the main job)
#   make test       unit tests, end-to-end tests in the waPC host and the control-plane
#                   suite (what CI runs); the tests that need kwctl are left out (ignored)
#   make e2e-kubewarden  the tests that need Kubewarden's kwctl and policy-server
#   make e2e-cluster  the control-plane suite alone (the modules as webhooks of a real API server)
#   make control-plane-bin  build etcd, kube-apiserver, kube-scheduler and
#                   kube-controller-manager from tests/control-plane/go.mod (needs Go)
#   make lint       cargo fmt --check and clippy -D warnings
#   make annotate   kwctl annotate each module with its metadata.yml (needs kwctl)
#   make push       kwctl push each annotated module to $(REGISTRY) (needs kwctl)
#   make check-versions  Cargo.toml, metadata.yml and artifacthub-pkg.yml agree
#   make artifacthub  regenerate each artifacthub-pkg.yml with kwctl scaffold artifacthub
#   make rules-doc  regenerate docs/rules.md and the rules of each questions-ui.yml from the rule declarations
#   make sbom       a CycloneDX SBOM of each module (needs cargo-cyclonedx)
#   make release-dry-run  annotate, push (to a loopback registry), SBOM and Artifact Hub package
#   make serve      Kubewarden's PolicyServer on 127.0.0.1:$(SERVE_PORT) serving every module
#   make load       a bounded load run of PolicyServer: the flagship beside the reference policy
#                   and the floor module
#   make bench      evaluation time (waPC host, native, kwctl bench) against the floor module
#                   and the reference policy, peak memory, size, and the targets
#   make fuzz       run each fuzz target for FUZZ_SECONDS (libFuzzer, coverage-guided)

CARGO       ?= cargo
TARGET      := wasm32-wasip1
RELEASE_DIR := target/$(TARGET)/release
POLICIES    := $(patsubst policies/%/Cargo.toml,%,$(wildcard policies/*/Cargo.toml))
MODULES     := $(foreach p,$(POLICIES),$(RELEASE_DIR)/$(subst -,_,$(p)).wasm)
# The shipped modules: cargo's, shrunk by binaryen's wasm-opt when it is installed
# (Debian: apt-get install binaryen), else copied as they are. Tests, benchmarks, run,
# annotate and push use these.
DIST        := target/modules
SHIPPED     := $(foreach p,$(POLICIES),$(DIST)/$(subst -,_,$(p)).wasm)
WASM_OPT    ?= wasm-opt
# The features rustc enables for wasm32-wasip1, so that wasm-opt accepts the module.
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext \
	--enable-mutable-globals --enable-nontrapping-float-to-int
ANNOTATED   ?= target/annotated
CORPUS      := tests/corpus
EVAL        := $(CARGO) run --quiet --release -p wapc-test-host --bin policy-eval --
# The one version of every module: [workspace.package] version in Cargo.toml.
# Each module's own version: `version` of policies/<module>/Cargo.toml (released as the
# tag <module>/v<version>, as Kubewarden's policies monorepo does).
module_version = $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' policies/$(1)/Cargo.toml)
# Where `make push` publishes: REGISTRY=ghcr.io/your-org/policies (no default).
REGISTRY    ?=
# Kubewarden's kwctl (from Kubewarden's releases): $KWCTL, else the one on PATH.
KWCTL       ?= kwctl
# A kwctl sources file (`insecure_sources`, custom CAs), e.g. for a plain-HTTP registry
# on loopback: make push REGISTRY=127.0.0.1:5000/policies KWCTL_SOURCES=sources.yml
KWCTL_SOURCES ?=
KWCTL_SOURCES_FLAG := $(if $(KWCTL_SOURCES),--sources-path $(KWCTL_SOURCES))

.PHONY: all build setup run run-corpus test e2e e2e-kubewarden e2e-cluster unit fmt lint annotate push \
	check-versions check-kwctl rules-doc bench bench-modules fuzz clean artifacthub serve load sbom \
	release-dry-run control-plane-bin

all: build

setup:
	rustup target add $(TARGET)

build: setup
	$(CARGO) build --release --target $(TARGET) $(foreach p,$(POLICIES),-p $(p))
	@$(MAKE) --no-print-directory -s $(SHIPPED)
	@ls -l $(SHIPPED)

# cargo's module $< shrunk by wasm-opt into $@ (copied as it is without binaryen).
define ship_wasm
	@mkdir -p $(@D)
	@if command -v $(WASM_OPT) >/dev/null 2>&1 && $(WASM_OPT) $(WASM_OPT_FLAGS) $< -o $@.tmp; then \
	  mv $@.tmp $@; \
	  echo "$@: $$(wc -c < $<) bytes, $$(wc -c < $@) after wasm-opt -Oz"; \
	else \
	  rm -f $@.tmp; cp $< $@; \
	  echo "$@: $$(wc -c < $@) bytes, not optimized ($(WASM_OPT) from binaryen is not installed or failed)"; \
	fi
endef

$(DIST)/%.wasm: $(RELEASE_DIR)/%.wasm
	$(ship_wasm)

# The floor module of the benchmarks (tests/floor-module: decode, then accept), built and
# shrunk as the shipped modules are, but kept apart from them: never shipped.
FLOOR_PACKAGE := windows-workloads-floor
BENCH_DIR     := target/bench-modules
FLOOR_MODULE  := $(BENCH_DIR)/$(subst -,_,$(FLOOR_PACKAGE)).wasm

$(BENCH_DIR)/%.wasm: $(RELEASE_DIR)/%.wasm
	$(ship_wasm)

bench-modules: setup
	$(CARGO) build --release --target $(TARGET) -p $(FLOOR_PACKAGE)
	@$(MAKE) --no-print-directory -s $(FLOOR_MODULE)

# The main job: every module evaluates its own sample manifests with its example settings.
run: build
	@for p in $(POLICIES); do \
	  echo "=== $$p"; \
	  $(EVAL) --module $(DIST)/$$(echo $$p | tr - _).wasm \
	    --settings policies/$$p/settings.example.yaml policies/$$p/test_data || exit $$?; \
	done

# Every module over the real-world corpus, with default settings.
run-corpus: build
	@for p in $(POLICIES); do \
	  echo "=== $$p"; \
	  $(EVAL) --module $(DIST)/$$(echo $$p | tr - _).wasm $(CORPUS) || exit $$?; \
	done

# Unit tests of the rule crate, the end-to-end tests (which build the modules
# themselves, or use WASM_MODULES_DIR when it is set: here, the shipped modules) and the
# control-plane suite (tests/control-plane, on the binaries control-plane-bin builds).
# The tests that need Kubewarden's kwctl and policy-server are ignored here (cargo lists
# them); `make e2e-kubewarden` runs them where those are installed.
test: build control-plane-bin
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) CONTROL_PLANE_BIN=$(CURDIR)/$(CONTROL_PLANE_BIN) \
	  $(CARGO) test --workspace --no-fail-fast
	@echo "make test: the tests marked 'ignored' above need Kubewarden's kwctl and policy-server"
	@echo "(Kubewarden's releases) and were not run: make e2e-kubewarden runs them."

# The tests that need kwctl and policy-server ($$KWCTL / $$POLICY_SERVER, else on PATH):
# every decision compared with Kubewarden's engine, annotate, scaffold, push and pull.
# Their absence fails this target.
e2e-kubewarden: build
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) KUBEWARDEN_REQUIRED=1 \
	  $(CARGO) test -p wapc-test-host -- --ignored

# Kubernetes' own commands and etcd, built from tests/control-plane/go.mod (the Go module
# proxy serves them; the first build takes many minutes, then Go's build cache makes it
# quick). Never committed.
CONTROL_PLANE_BIN := target/control-plane/bin
CONTROL_PLANE_COMMANDS := k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kube-controller-manager
# The version the commands report (/version, --version), as Kubernetes' own build stamps
# it (hack/lib/version.sh): the release go.mod requires, so that the one place it is
# chosen is go.mod.
K8S_VERSION_PKGS := k8s.io/component-base/version k8s.io/client-go/pkg/version
control-plane-bin:
	@command -v go >/dev/null 2>&1 || { echo "Go is not installed: the control-plane suite needs it"; exit 1; }
	@mkdir -p $(CONTROL_PLANE_BIN)
	@set -e; start=$$(date +%s); cd tests/control-plane; \
	v=$$(go list -m -f '{{.Version}}' k8s.io/kubernetes); \
	major=$$(echo $$v | sed 's/^v\([0-9]*\)\..*/\1/'); minor=$$(echo $$v | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/'); \
	flags=""; for p in $(K8S_VERSION_PKGS); do \
	  flags="$$flags -X $$p.gitVersion=$$v -X $$p.gitMajor=$$major -X $$p.gitMinor=$$minor -X $$p.gitTreeState=clean"; \
	done; \
	go build -ldflags "$$flags" -o $(CURDIR)/$(CONTROL_PLANE_BIN)/ $(CONTROL_PLANE_COMMANDS); \
	go build -o $(CURDIR)/$(CONTROL_PLANE_BIN)/etcd go.etcd.io/etcd/server/v3; \
	echo "control-plane-bin: Kubernetes $$v and etcd $$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) built in $$(( $$(date +%s) - start )) s"

# The control-plane suite alone: a real API server, scheduler and controllers on
# loopback with the modules as admission webhooks (tests/control-plane).
e2e-cluster: build control-plane-bin
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) CONTROL_PLANE_BIN=$(CURDIR)/$(CONTROL_PLANE_BIN) \
	  $(CARGO) test -p control-plane -- --nocapture

unit:
	$(CARGO) test -p windows-workload-rules

e2e: build
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) $(CARGO) test -p wapc-test-host

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check-kwctl:
	@command -v $(KWCTL) >/dev/null 2>&1 || { \
	  echo "kwctl ($(KWCTL)) is not installed: install it from Kubewarden's releases"; \
	  echo "(https://github.com/kubewarden/kwctl/releases), or set KWCTL, to annotate and push"; \
	  echo "the modules; nothing was annotated or pushed."; \
	  exit 1; }

# Every module's crate, metadata.yml, artifacthub-pkg.yml, release tag, example and
# CHANGELOG.md carry the module's version.
check-versions:
	@$(foreach p,$(POLICIES),echo "$(p) $(call module_version,$(p))";)
	$(CARGO) test --quiet -p wapc-test-host --test packaging -- versions

# Each module's Artifact Hub package as Kubewarden's release pipeline makes it: generated
# by `kwctl scaffold artifacthub` from its metadata.yml and questions-ui.yml (the
# A test fails when a committed one is stale.
artifacthub: check-kwctl
	@set -e; for p in $(POLICIES); do \
	  md=policies/$$p/metadata.yml; pkg=policies/$$p/artifacthub-pkg.yml; \
	  $(KWCTL) scaffold artifacthub -m $$md -q policies/$$p/questions-ui.yml -o $$pkg; \
	  echo "generated $$pkg"; \
	done

# Embeds each module's metadata and README.
annotate: check-kwctl check-versions build
	@mkdir -p $(ANNOTATED)
	@set -e; for p in $(POLICIES); do \
	  m=$$(echo $$p | tr - _); \
	  md=policies/$$p/metadata.yml; \
	  $(KWCTL) annotate -m $$md -u policies/$$p/README.md \
	    -o $(ANNOTATED)/$$m.wasm $(DIST)/$$m.wasm; \
	  echo "annotated $(ANNOTATED)/$$m.wasm with $$md"; \
	done

# Pushes each annotated module to $(REGISTRY)/<module>:v<its version> and records the
# immutable reference (<registry>/<module>@sha256:...) kwctl answers in
# $(ANNOTATED)/<module>.pushed.json.
push:
	@test -n "$(REGISTRY)" || { \
	  echo "REGISTRY is not set: make push REGISTRY=ghcr.io/your-org/policies"; exit 1; }
	@$(MAKE) --no-print-directory annotate
	@set -e; for p in $(POLICIES); do \
	  m=$$(echo $$p | tr - _); \
	  v=$$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' policies/$$p/Cargo.toml); \
	  $(KWCTL) push -o json $(KWCTL_SOURCES_FLAG) $(ANNOTATED)/$$m.wasm \
	    registry://$(REGISTRY)/$$p:v$$v > $(ANNOTATED)/$$p.pushed.json; \
	  echo "pushed registry://$(REGISTRY)/$$p:v$$v: $$(cat $(ANNOTATED)/$$p.pushed.json)"; \
	done

# The rule reference and the rules section of every settings form, generated from the
# rule declarations; a test fails when one is stale (then run `make artifacthub` too).
rules-doc:
	$(CARGO) run --quiet -p windows-workload-rules --bin rules-doc

# The shipped modules, the floor module and the reference policy ($$REFERENCE_POLICY, a
# build of Kubewarden's pod-privileged-policy; without it, not measured) in the waPC host (the modules' and the floor's rule-crate twins natively too), then the
# node inventory's cost; then `kwctl bench` (Kubewarden's engine) of the same policies on
# the same requests, interleaved; then the ratios and the targets. The tables of the
# README's performance section come from `make bench BENCH_ARGS=--markdown`.
# BENCH_ARGS=--time: evaluation time only; --memory: peak linear memory only; --kwctl:
# kwctl bench only; --no-kwctl: without it; --json.
bench: build bench-modules
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) FLOOR_MODULE=$(CURDIR)/$(FLOOR_MODULE) \
	  $(CARGO) bench -p wapc-test-host -- $(BENCH_ARGS)

# A CycloneDX (1.5, JSON) SBOM of each module, for its wasm32-wasip1 build, by
# cargo-cyclonedx (pinned in .ci/run): $(SBOM_DIR)/<module>.cdx.json. cargo-cyclonedx
# writes one file beside every manifest of the workspace; the modules' are moved, the
# others removed.
SBOM_DIR ?= target/sbom
SBOM_FILE := release-sbom
sbom:
	@command -v cargo-cyclonedx >/dev/null 2>&1 || { \
	  echo "cargo-cyclonedx is missing: cargo install cargo-cyclonedx --version 0.5.9 --locked"; exit 1; }
	@mkdir -p $(SBOM_DIR)
	$(CARGO) cyclonedx -q -f json --spec-version 1.5 --target $(TARGET) --override-filename $(SBOM_FILE)
	@set -e; for p in $(POLICIES); do mv policies/$$p/$(SBOM_FILE).json $(SBOM_DIR)/$$p.cdx.json; \
	  echo "$(SBOM_DIR)/$$p.cdx.json"; done
	@find . -name '$(SBOM_FILE).json' -not -path './target/*' -delete

# Every step of a release of every module, with no network beyond a loopback registry
# (scripts/release-dry-run): target/release-dry-run/{annotated,sbom,artifacthub}.
release-dry-run: build
	scripts/release-dry-run

# Kubewarden's PolicyServer on loopback serving every module as /validate/<module>
# (default settings) and /validate/<module>-example (its settings.example.yaml), annotated
# from the built modules, or from REGISTRY (what `make push` published; KWCTL_SOURCES for
# a plain-HTTP registry). Ctrl-C stops it.
SERVE_PORT ?= 3000
serve: build
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) $(CARGO) run --quiet --release -p wapc-test-host \
	  --bin policy-serve -- --port $(SERVE_PORT) \
	  $(if $(REGISTRY),--registry $(REGISTRY)) \
	  $(if $(KWCTL_SOURCES),--sources $(KWCTL_SOURCES))

# A bounded load run of PolicyServer: the flagship, the reference policy
# ($$REFERENCE_POLICY, when set) and the floor module side by side, taking turns over rounds, keep-alive clients,
# p50/p90/p99 latency, requests per second, PolicyServer's CPU time per request and
# errors (which fail the run). LOAD_ARGS: --requests N --rounds R --clients C
# --workers W --sample TEXT --policy ID --markdown.
LOAD_ARGS ?=
load: build bench-modules
	WASM_MODULES_DIR=$(CURDIR)/$(DIST) FLOOR_MODULE=$(CURDIR)/$(FLOOR_MODULE) $(CARGO) run --quiet --release -p wapc-test-host \
	  --bin policy-load -- $(LOAD_ARGS)

# Coverage-guided fuzzing with libFuzzer (libfuzzer-sys), instrumented with LLVM's
# SanitizerCoverage through stable rustc flags (no sanitizer, no nightly): what
# `cargo fuzz run --sanitizer none` does. The seeds come from tests/corpus and the
# modules' settings; a crash stops make with the input in fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := validate_bytes structured_workload
FUZZ_TRIPLE  := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks
fuzz:
	cd fuzz && $(CARGO) run --quiet --release --bin seed_corpus
	cd fuzz && RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --release --target $(FUZZ_TRIPLE) \
	  $(foreach t,$(FUZZ_TARGETS),--bin $(t))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  case $$t in validate_bytes) len=65536;; *) len=1024;; esac; \
	  mkdir -p fuzz/artifacts/$$t; \
	  echo "=== $$t: $(FUZZ_SECONDS) s"; \
	  status=0; fuzz/target/$(FUZZ_TRIPLE)/release/$$t fuzz/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$$len -len_control=0 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=fuzz/artifacts/$$t/ \
	    > fuzz/artifacts/$$t.log 2>&1 || status=$$?; \
	  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|Done)' \
	    fuzz/artifacts/$$t.log || true; \
	  if [ $$status -ne 0 ]; then \
	    tail -n 40 fuzz/artifacts/$$t.log; \
	    echo "$$t found a failure (exit $$status): the input is in fuzz/artifacts/$$t/; keep it in tests/fuzz-regressions/"; \
	    exit $$status; \
	  fi; \
	done

clean:
	$(CARGO) clean
