# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test system-packages lint typecheck unit policy-tests bench deploy-manifests release clean

$(BIN)/policy-engine: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(BIN)/policy-engine
	@echo "== What the engine sees in examples/manifests =="
	@$(BIN)/policy-engine inspect examples/manifests --format table
	@echo
	@echo "== policy-engine check examples/manifests (bundled policies, bundled pricing) =="
	@status=0; $(BIN)/policy-engine check examples/manifests || status=$$?; \
	 case $$status in \
	   1) echo "(exit 1: the examples break deny policies on purpose; this is what fails a CI gate)";; \
	   0) ;; \
	   *) exit $$status;; \
	 esac

lint: $(BIN)/policy-engine
	$(BIN)/ruff check policy_engine tests benchmarks
	$(BIN)/lint-imports

typecheck: $(BIN)/policy-engine
	$(BIN)/mypy policy_engine tests

policy-tests: $(BIN)/policy-engine
	$(BIN)/policy-engine test policies examples/policies

unit: $(BIN)/policy-engine
	$(BIN)/pytest

# Debian packages the tests run for real (kubectl, chromium, …), installed when missing and root.
system-packages:
	@bash .ci/system-packages

test: system-packages lint typecheck policy-tests unit

bench: $(BIN)/policy-engine
	$(BIN)/python benchmarks/run_all.py

# deploy/ holds the webhook's kustomize tree with a snapshot of policies/: regenerate after editing policies.
deploy-manifests: $(BIN)/policy-engine
	$(BIN)/policy-engine webhook-manifests --out-dir deploy
	$(BIN)/policy-engine controller-manifests --out-dir deploy/controller

# The bundled catalog is generated from the provider-format excerpts (policy_engine/pricing/excerpts/README.md);
# a test keeps it current.
EXCERPTS := policy_engine/pricing/excerpts
.PHONY: catalog
catalog: $(BIN)/policy-engine
	$(BIN)/policy-engine prices import --base $(EXCERPTS)/catalog-base.yaml \
	  --aws $(EXCERPTS)/aws-ec2-us-east-1.2026-01-19.json --aws-spot $(EXCERPTS)/aws-spot-feed.2026-08-10.json \
	  --gcp $(EXCERPTS)/gcp-pricing.2026-02-12.yml \
	  --azure $(EXCERPTS)/azure-retail.2023-12-18.json --azure $(EXCERPTS)/azure-retail.2026-09-06.json \
	  --out policy_engine/pricing/catalog.yaml

# Example outputs in README.md and docs/ are generated (<!-- output: … --> markers); a test keeps them current.
docs-outputs: $(BIN)/policy-engine
	$(BIN)/python -m tests.docs.outputs --write

# Tag the checked-out release commit v<version> (docs/releasing.md); refuses a commit that is not one.
release:
	bash .ci/release

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
