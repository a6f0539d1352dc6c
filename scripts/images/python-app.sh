# Shared by the operator and gateway image recipes (sourced, not run).
#
# install_python_app PREFIX COMMAND
#   Builds the mcpod wheel from this checkout and installs it with its hash-pinned
#   dependencies (runtime.lock) into PREFIX/venv, binary wheels only; then removes pip and
#   setuptools from that venv, so the runtime holds no build or install tools, and checks that
#   COMMAND (a console script) starts. The Dockerfiles run it with PREFIX=/opt/mcpod; tests run
#   it into a temporary directory. Set PIP_NO_CACHE_DIR=1 to skip pip's download cache.

install_python_app() {
  local prefix="$1" command="$2"
  local here root python work
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  root="$(cd "$here/../.." && pwd)"
  python="${MCPOD_IMAGE_PYTHON:-python3}"
  mkdir -p "$prefix"
  work="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$work'" RETURN

  # The wheel is built from a copy, so the checkout gets no build/ or egg-info litter.
  mkdir -p "$work/src"
  cp "$root/pyproject.toml" "$root/README.md" "$work/src/"
  for d in common operator gateway bridge devcluster; do
    cp -r "$root/$d" "$work/src/$d"
  done
  find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
  find "$work/src" -name '*.egg-info' -prune -exec rm -rf {} +

  "$python" -m venv "$work/build"
  "$work/build/bin/pip" install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: -r "$here/build.lock"
  "$work/build/bin/pip" wheel --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation --wheel-dir "$work/dist" "$work/src"

  rm -rf "$prefix/venv"
  "$python" -m venv "$prefix/venv"
  "$prefix/venv/bin/pip" install --quiet --disable-pip-version-check \
    --require-hashes --only-binary=:all: --no-deps -r "$here/runtime.lock"
  "$prefix/venv/bin/pip" install --quiet --disable-pip-version-check \
    --no-deps --no-index "$work"/dist/mcpod-*.whl
  # Nothing installs or builds at runtime.
  "$prefix/venv/bin/python" -m pip uninstall --quiet --yes pip setuptools
  "$prefix/venv/bin/$command" --help >/dev/null
  echo "installed $command into $prefix/venv"
}
