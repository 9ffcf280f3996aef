#!/usr/bin/env bash
# The GPU checks of issue 16, prepared to run inside a lent device machine's 15 minutes (the `device` tool).
#
# Once, on the development machine (downloads ~13 MB of Python 3.12 wheels the device image lacks into .whl/,
# which git ignores through .git/info/exclude):
#
#     bash experiments/device_session.sh wheels
#
# Then two device calls (each well inside one call's 10-minute limit; what a stage measured comes back even if
# the call is cut off, because every result is written to $OUT as it is produced):
#
#     run(command="bash experiments/device_session.sh checks", carry=[".whl"], timeout_s=540)
#         CUDA tests (compiled update on CUDA, a GPU run's checkpoint on a CPU, the off-policy loop on CUDA), then
#         eager against compiled update steps (TF32 off) for TD3+BC and A2PR at P = 1 and 27: about 5-7 minutes
#     run(command="bash experiments/device_session.sh bench", carry=[".whl"], timeout_s=540)
#         the issue's table: P = 1, 3, 9, 27 against separate single-run processes, TD3+BC and A2PR: about 6-8 minutes
#
# Other stages, for issue 24 when the session has time left (each about 5-7 minutes):
#
#     bash experiments/device_session.sh bq-data     (here, first: the solved training/validation/test sets of the
#                                                      shipped models, ~10 MB, into .orl-data/, git-ignored)
#     run(command="bash experiments/device_session.sh bq", carry=[".whl", ".orl-data"], timeout_s=480)
#         continues the shipped TSP50 and CVRP50 models on the GPU, side by side, 5 minutes of training each
#         (BQ_MINUTES=M to change; without .orl-data the instances are solved there first, 7 processes each); the
#         updated models and records come back under $OUT/models: copy them to orl/routing/models/, run
#         `python experiments/bq_ship.py --report` (the gap-versus-training-time rows) and commit
#     run(command="bash experiments/device_session.sh refs", carry=[".whl"], timeout_s=540)
#         the CVRP50 test set solved by PyVRP at 1 s per instance (orl's default reference) and at 20,000
#         iterations (the stronger one: the same tours on any machine) on 16 idle cores
#         (experiments/routing_references.py); the CSV row and the solved sets (partial ones too, resumable
#         here with the same command) come back under $OUT/data
#
# The device image has torch (2.11 when last seen), numpy, h5py, tensorboard, tqdm, pytest and PyYAML; what it
# lacks (gymnasium, MuJoCo, Hydra, Minari, the routing solvers) travels as wheels and is installed into /tmp/site.
# orl itself is not installed: PYTHONPATH points at this checkout and its envs/ package.
set -u -o pipefail
cd "$(dirname "$0")/.."
stage=${1:-checks}
OUT=${OUT:-device-out}
mkdir -p "$OUT"

if [ "$stage" = bq-data ]; then
    src=${ORL_DATA_DIR:-$HOME/.orl}/routing
    mkdir -p .orl-data/routing
    grep -qx '/.orl-data/' .git/info/exclude 2>/dev/null || echo '/.orl-data/' >> .git/info/exclude
    cp -v "$src"/tsp50-*.npz "$src"/cvrp50-*.npz .orl-data/routing/ 2>&1 | grep -v partial || exit 1
    rm -f .orl-data/routing/*.partial.npz
    du -sh .orl-data
    exit 0
fi

if [ "$stage" = wheels ]; then
    mkdir -p .whl
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d .whl \
        gymnasium==1.4.0 farama-notifications==0.0.4 mujoco==3.4.0 glfw==2.11.0 PyOpenGL==3.1.10 hydra-core==1.3.8 \
        omegaconf==2.3.1 minari==0.5.4 elkai==2.0.1 pyvrp==0.14.1 vrplib==2.2.0 || exit 1
    # Hydra's parser runtime is published as a source distribution only: build its (pure-Python) wheel here
    python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3 || exit 1
    du -sh .whl
    exit 0
fi

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD:$PWD/envs PYTHONUNBUFFERED=1 MUJOCO_GL=egl
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, gymnasium, mujoco, hydra; print('torch', torch.__version__, torch.cuda.get_device_name(), \
'gymnasium', gymnasium.__version__, 'mujoco', mujoco.__version__)" 2>&1 | tee "$OUT/versions.txt"

case "$stage" in
checks)
    timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_compiled_update.py tests/test_offline.py \
        -k "cuda or gpu" 2>&1 | tee "$OUT/pytest_cuda.txt"
    # the off-policy loop's GPU path (SAC, DSRL-NA, DSRL-SAC, EXPO, IQL fine-tuning): exact resume, loads on a CPU
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_offpolicy_device.py -k gpu 2>&1 \
        | tee "$OUT/pytest_offpolicy_cuda.txt"
    timeout 180 python3 experiments/bench_population.py --device cuda --algos td3bc a2pr --populations 1 27 \
        --seconds 3 --compile --no-peer --out "$OUT/bench_population_h200_compile.json" 2>&1 \
        | grep -v '^W\|^ ' | tee "$OUT/bench_compile.txt"
    ;;
bench)
    timeout 500 python3 experiments/bench_population.py --device cuda --algos td3bc a2pr --populations 1 3 9 27 \
        --seconds 3 --cores 16 --out "$OUT/bench_population_h200.json" 2>&1 | tee "$OUT/bench.txt"
    ;;
bq)
    mkdir -p "$OUT/models"
    cp orl/routing/models/tsp50.* orl/routing/models/cvrp50.* "$OUT/models/"
    [ -d .orl-data ] && export ORL_DATA_DIR=$PWD/.orl-data  # the solved sets carried from the development machine
    # (a continuation keeps each model's own settings: bq_ship refuses --expert-time-limit, --lr, --batch-size)
    for problem in tsp cvrp; do
        timeout 420 python3 experiments/bq_ship.py --problem $problem --size 50 --minutes "${BQ_MINUTES:-5}" \
            --device cuda --workers 7 --hardware "one NVIDIA H200 (lent)" --models "$OUT/models" --out /tmp/bq-ship \
            --history-csv "/tmp/bq_history_$problem.csv" > "/tmp/bq_$problem.log" 2>&1 &
    done
    wait
    cat /tmp/bq_tsp.log /tmp/bq_cvrp.log | grep -v '\r' > "$OUT/bq.txt"
    ;;
refs)
    ORL_DATA_DIR="$OUT/data" timeout 520 python3 experiments/routing_references.py --problem cvrp --size 50 \
        --count 1000 --strong-iterations 20000 --workers 16 --out "$OUT/routing_references.csv" 2>&1 \
        | tail -5 | tee "$OUT/refs.txt"
    ;;
*)
    echo "unknown stage $stage: wheels, bq-data, checks, bench, bq or refs" >&2
    exit 2
    ;;
esac
