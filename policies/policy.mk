# The per-policy targets of Kubewarden's policies monorepo, for each package folder
# policies/<module>/ (its Makefile sets E2E_TEST and includes this file): what
# Kubewarden's reusable release workflows call in a policy's folder. Every target
# delegates to the root Makefile, so the build, annotate and test steps exist once.
#
#   make policy.wasm            this module, built and shipped as the root's `make build` does
#   make annotated-policy.wasm  kwctl annotate with this folder's metadata.yml and README.md
#   make e2e-tests              the module's end-to-end tests in the waPC host, then every
#                               kwctl and PolicyServer comparison (tests/wapc-host)

MODULE   := $(notdir $(CURDIR))
ROOT     := $(realpath $(CURDIR)/../..)
SHIPPED  := $(ROOT)/target/modules/$(subst -,_,$(MODULE)).wasm
KWCTL    ?= kwctl

.PHONY: policy.wasm e2e-tests

# Always asks the root to build: cargo decides what is stale.
policy.wasm:
	$(MAKE) -C $(ROOT) --no-print-directory build POLICIES=$(MODULE)
	cp $(SHIPPED) $@

annotated-policy.wasm: policy.wasm metadata.yml README.md
	@command -v $(KWCTL) >/dev/null 2>&1 || { \
	  echo "kwctl is missing: install it from Kubewarden's releases, or set KWCTL"; exit 1; }
	$(KWCTL) annotate -m metadata.yml -u README.md -o $@ policy.wasm

e2e-tests: annotated-policy.wasm
	cd $(ROOT) && KUBEWARDEN_REQUIRED=1 WASM_MODULES_DIR=$(ROOT)/target/modules \
	  cargo test -p wapc-test-host --test $(E2E_TEST) --test real_engine --test audit
