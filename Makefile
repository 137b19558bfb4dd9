# kotox: `make demo` runs the main job end to end; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kotox-installed

.PHONY: setup perf-tools monitoring-tools demo sentiment test serve build capacity benchmark overhead quantization faults soak fp16 gpu-repository cpu-repository image image-cpu perf feed gpu-bench

$(STAMP): pyproject.toml client/pyproject.toml loadtest/requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ./client -e ".[test]"
	$(PY) -m pip install -q -c constraints.txt -r loadtest/requirements.txt  # second step: see loadtest/requirements.txt
	touch $@

setup: $(STAMP)

# perf_analyzer (from the tritonclient wheel) links libb64 and libcudart.so.12 even against a CPU server.
PERF_STAMP := $(VENV)/.kotox-perf-tools
$(PERF_STAMP): $(STAMP)
	dpkg -s libb64-0d >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq libb64-0d)
	$(PY) -m pip install -q nvidia-cuda-runtime-cu12
	touch $@

perf-tools: $(PERF_STAMP)

monitoring-tools:  # Debian's Prometheus + promtool for the monitoring tests (root, apt; skipped when installed)
	bash .ci/install-prometheus

demo: setup
	$(PY) -m kotox_server.demo

# examples/nsmc-sentiment.toml: train the member (once), build, serve, print the six reviews, score the NSMC slice
sentiment: setup
	$(PY) -m kotox_server.demo --spec examples/nsmc-sentiment.toml --repository model_repository_sentiment

build: setup
	$(PY) -m kotox_build

serve: setup
	$(PY) -m kotox_server

test: setup perf-tools monitoring-tools
	$(PY) -m pytest -q

capacity: setup
	$(PY) loadtest/capacity.py

benchmark: setup
	$(PY) loadtest/benchmark.py

overhead: setup
	$(PY) loadtest/overhead.py

quantization: setup
	$(PY) loadtest/quantization.py

faults: setup
	$(PY) loadtest/faults.py all

soak: setup
	$(PY) loadtest/soak.py

fp16: setup
	$(PY) loadtest/fp16.py

# The repository server/Dockerfile copies into the image: members on TensorRT (FP16; PRECISION=fp32 for exact).
# GPU_POD_CPUS: the cores server/k8s/overlays/gpu requests per pod; the BLS entry gets one process per 2 of them
# (kotox_build.repository.cpu_instances; tests/test_container.py checks both), whatever machine builds.
PRECISION ?= fp16
GPU_POD_CPUS := 6
gpu-repository: setup
	$(PY) -m kotox_build --device gpu --precision $(PRECISION) --cpu-instances $$(($(GPU_POD_CPUS) / 2)) --out model_repository_gpu

# The repository of the CPU image (server/k8s/overlays/cpu): members on the container's ONNX Runtime backend.
cpu-repository: setup
	$(PY) -m kotox_build --runtime onnxruntime --out model_repository_cpu

# The images the Kubernetes overlays run, tagged with the project's version (server/k8s/base/kustomization.yaml).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image: gpu-repository
	docker build -f server/Dockerfile -t kotox-triton:$(VERSION) .

image-cpu: cpu-repository
	docker build -f server/Dockerfile --target cpu -t kotox-triton-cpu:$(VERSION) .

# perf_analyzer against a running server (make serve), beside locust: reports/capacity/perf_analyzer.{csv,md,json}
URL ?= 127.0.0.1:8001
perf: perf-tools
	$(PY) loadtest/perf.py --url $(URL)

# The CPU side that feeds a GPU (real tokenizer and fusion, constant members), measured with perf_analyzer.
feed: perf-tools
	$(PY) loadtest/feed.py

# On a GPU machine with Docker: shape-only KcELECTRA-base GPU repository, the container, benchmark + perf_analyzer.
gpu-bench: perf-tools
	$(PY) loadtest/gpu_bench.py --precision $(PRECISION)
