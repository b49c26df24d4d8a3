#!/usr/bin/env bash
# Steps on an offline GPU host, run from the repository root; /tmp persists while the host stays up.
# The bundles come in .gpu/ (make them with the bundle maker described in docs/gpu-host.md).
#   bash tools/gpu_host.sh install           unpack the bundles found in .gpu/ into /tmp/site; when the
#                                            llama-cpp-python source came, build it with CUDA in the background
#   bash tools/gpu_host.sh start NAME [--now] CMD..
#                                            run CMD in the background, after the build if one is running
#                                            (--now: at once); output to /tmp/jobs/NAME.log
#   bash tools/gpu_host.sh stop NAME         stop a background job and what it started
#   bash tools/gpu_host.sh wait SECONDS      follow the background jobs for at most SECONDS, then copy their
#                                            logs and any results under /tmp/jobs/out to $OUT
set -uo pipefail
site=/tmp/site; jobs=/tmp/jobs; mkdir -p "$site" "$jobs/out"
export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
export PIPELINE_ASSETS=/tmp/assets
case "${1:?install|start|stop|wait}" in
  install)
    for bundle in .gpu/train-kernels.tgz .gpu/train-libs.tgz .gpu/serve-libs.tgz .gpu/extra.tgz; do
      [ -f "$bundle" ] && tar xzf "$bundle" -C "$site" && echo "unpacked $bundle"
    done
    if [ -f .gpu/tiny-tok.tgz ]; then  # the tiny model's tokenizer (the real vocabulary) for 8B-shaped models
      mkdir -p /tmp/assets/tiny-r1-llama && tar xzf .gpu/tiny-tok.tgz -C /tmp/assets/tiny-r1-llama --strip-components 1
    fi
    [ -f .gpu/exams.tgz ] && mkdir -p /tmp/assets && tar xzf .gpu/exams.tgz -C /tmp/assets  # make setup's exams
    # llama.cpp's converter and gguf-py as make setup unpacks them, for a host given a prebuilt
    # llama-cpp-python (llama-cpp-python.tgz, its installed package) instead of the source to build
    [ -f .gpu/llama-cpp-converter.tgz ] && mkdir -p /tmp/assets && tar xzf .gpu/llama-cpp-converter.tgz -C /tmp/assets
    [ -f .gpu/llama-cpp-python.tgz ] && tar xzf .gpu/llama-cpp-python.tgz -C "$site" && echo "unpacked a prebuilt llama-cpp-python"
    if [ -f .gpu/llama-cpp-python-src.tgz ] && [ ! -f "$jobs/llama.log" ]; then  # once per host
      rm -rf /tmp/llama-src && mkdir -p /tmp/llama-src && tar xzf .gpu/llama-cpp-python-src.tgz -C /tmp/llama-src
      src=$(ls -d /tmp/llama-src/llama_cpp_python-*/)
      version=$(basename "$src" | sed 's/llama_cpp_python-//')
      mkdir -p /tmp/assets && cp -r "$src/vendor/llama.cpp" "/tmp/assets/llama.cpp-$version"
      setsid bash -c "CMAKE_ARGS='-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=off' \
        python3 -m pip install -q --no-deps --no-build-isolation --no-index --target $site $src \
        > $jobs/llama.log 2>&1; echo \$? > $jobs/llama.done" < /dev/null > /dev/null 2>&1 &
      echo "building llama-cpp-python $version with CUDA in the background ($jobs/llama.log)"
    fi
    df -h /tmp | tail -1; nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader ;;
  start)
    name=${2:?name}; shift 2
    gate="while [ -f $jobs/llama.log ] && [ ! -f $jobs/llama.done ]; do sleep 5; done;"
    if [ "${1:-}" = "--now" ]; then gate=""; shift; fi  # a job that needs no llama-cpp-python
    printf '%q ' "$@" > "$jobs/$name.cmd"
    setsid bash -c "$gate \
      $(cat "$jobs/$name.cmd") > $jobs/$name.log 2>&1; echo \$? > $jobs/$name.done" < /dev/null > /dev/null 2>&1 &
    echo $! > "$jobs/$name.pid"  # setsid made it a session leader: its pid is the group to stop
    echo "started $name" ;;
  stop)  # stop a job and everything it started (patterns live here, not on the caller's command line)
    name=${2:?name}
    [ -f "$jobs/$name.pid" ] && kill -- -"$(cat "$jobs/$name.pid")" 2>/dev/null
    for pid in $(pgrep -f "^python3 -m tools.rehearse") $(pgrep -f "python3 -m (train|convert|serve|eval) --config"); do
      kill "$pid" 2>/dev/null
    done
    rm -f "$jobs/$name".*
    echo "stopped $name" ;;
  wait)
    deadline=$(( $(date +%s) + ${2:?seconds} ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
      running=0
      for cmd in "$jobs"/*.cmd; do [ -f "${cmd%.cmd}.done" ] || running=1; done
      [ -f "$jobs/llama.log" ] && [ ! -f "$jobs/llama.done" ] && running=1
      [ "$running" = 0 ] && break
      sleep 10
    done
    for log in "$jobs"/*.log; do echo "== $log ($(cat "${log%.log}.done" 2>/dev/null || echo running))"; tail -n 25 "$log"; done
    [ -n "${OUT:-}" ] && cp "$jobs"/*.log "$OUT"/ 2>/dev/null; [ -n "${OUT:-}" ] && cp -r "$jobs"/out/. "$OUT"/ 2>/dev/null
    df -h /tmp | tail -1 ;;
esac
exit 0
