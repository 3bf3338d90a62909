#!/usr/bin/env bash
# FER-Zoo: set up the environment, then run the course or its tests.
#
#   ./run_all.sh                      set up .venv, run the whole course (quick profile, SyntheticFER):
#                                     00 explore, 10-13 one per method, 20 evaluate, 30 per method;
#                                     executed notebooks, figures and summary.{json,md} in
#                                     outputs/<profile>/
#   ./run_all.sh test [PYTEST ARGS]   same set-up, then the whole test suite (pytest + nbval)
#   ./run_all.sh setup                set-up only (venv, locked install, Jupyter kernel)
#   ./run_all.sh lab                  JupyterLab on the repo with the project's kernel (127.0.0.1)
#
# Options for the notebook run:
#   --profile NAME|FILE.yaml   params profile (quick, full, ci, diffusionfer; default quick)
#   --data-dir DIR             dataset folder (e.g. an extracted DiffusionFER release)
#   --methods a,b              methods to teach and compare (baseline,caf,avce,elim; default all)
#   --only PREFIX...           run only the notebooks whose names start with these
#   --set KEY=VALUE...         override single parameters
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV="${FERZOO_VENV:-.venv}"
LOCK="requirements/lock.txt"
KERNEL="ferzoo"

# Offline by default: nothing downloads at run time unless a user asks for it explicitly.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
export WANDB_MODE="${WANDB_MODE:-offline}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export PYTHONHASHSEED="${PYTHONHASHSEED:-0}"

pick_python() {
  for py in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 14))'; then
      echo "$py"; return 0
    fi
  done
  echo "run_all.sh: need Python 3.10-3.13 (set PYTHON=/path/to/python)" >&2
  return 1
}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    local py; py="$(pick_python)"
    echo "==> creating $VENV with $("$py" --version)"
    "$py" -m venv "$VENV"
  fi
  # Reinstall only when the lock or the project's metadata changed.
  local stamp="$VENV/.ferzoo-install-stamp" want
  want="$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing ferlib and its locked dependencies (first time: several minutes)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -c "$LOCK" -e ".[test]"
    echo "$want" > "$stamp"
  fi
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name "$KERNEL" \
    --display-name "Python (FER-Zoo)" >/dev/null 2>&1
  # project-level Jupyter settings (config/jupyter/README.md), inside the venv, not in $HOME
  mkdir -p "$VENV/share/jupyter/lab/settings" "$VENV/etc/jupyter"
  cp config/jupyter/overrides.json "$VENV/share/jupyter/lab/settings/overrides.json"
  cp config/jupyter/jupyter_server_config.json "$VENV/etc/jupyter/jupyter_server_config.json"
}

cmd="run"
case "${1:-}" in
  test|setup|lab|run) cmd="$1"; shift ;;
esac

setup
case "$cmd" in
  setup)
    "$VENV/bin/ferlib" check-env ;;
  test)
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
      echo "run_all.sh test: pytest collected no tests; that is a failure, not a pass" >&2
      exit 1
    fi
    exit "$rc" ;;
  lab)
    root_flag=()  # Jupyter refuses to start as root (containers) unless told it may
    [ "$(id -u)" -eq 0 ] && root_flag=(--ServerApp.allow_root=True)
    exec "$VENV/bin/jupyter" lab --ip=127.0.0.1 --notebook-dir=. \
      --MappingKernelManager.default_kernel_name="$KERNEL" "${root_flag[@]}" "$@" ;;
  run)
    exec "$VENV/bin/ferlib" notebooks --check-env "$@" ;;
esac
