#!/usr/bin/env bash
# The GPU check of issue 9: `kre train` / `kre predict` on one CUDA machine, under 8 minutes, one table.
#
#   bash bench/gpu_check.sh            # on the GPU machine: the full check (see bench/gpu_check.py)
#   bash bench/gpu_check.sh --cpu      # a smoke test of the same steps on CPU (tiny model, data subset)
#   bash bench/gpu_check.sh --prepare  # here, before a device run: pack what the device machine lacks
#
# The device machine (see /work/.library/device/README.md) has python3 with torch and transformers
# but no `datasets`, and no network. `--prepare` writes, both git-ignored through .git/info/exclude:
#   .gpu-check/data/{train,test_data}.csv.gz   the real KLUE-RE files, gzipped (~5 MiB)
#   .gpu-check/e5-small-ko/                    e5-small-ko in float16, weights gzipped (~38 MiB; kre loads float32)
#   .whl/                                      wheels of datasets, dill and multiprocess for CPython 3.12,
#                                              fetched with `pip download --no-deps --only-binary=:all:
#                                              --python-version 3.12 --platform manylinux...` (--no-wheels skips)
# Then, with the device tool: run(command="bash bench/gpu_check.sh", carry=[".gpu-check", ".whl"], timeout_s=560).
# This script installs the carried wheels into /tmp/kre-site and kre itself with `pip install --no-deps -e .`
# (falling back to PYTHONPATH when that cannot build offline), then runs bench/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

for arg in "$@"; do
  if [[ "$arg" == "--prepare" ]]; then exec "$PY" bench/gpu_check.py "$@"; fi
done

if ! "$PY" -c "import datasets" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/kre-site .whl/*.whl
  export PYTHONPATH="/tmp/kre-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import kre" 2>/dev/null; then
  "$PY" -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || echo "gpu_check: pip install -e . failed offline; using PYTHONPATH"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's kre wins
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
"$PY" -c "import datasets, torch, transformers" || { echo "gpu_check: a package is missing (run --prepare here and carry .whl)"; exit 1; }
exec "$PY" bench/gpu_check.py "$@"
