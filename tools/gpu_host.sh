#!/usr/bin/env bash
# Steps on an offline GPU host, run from the repository root; /tmp persists while the host stays up.
# The bundles come in .gpu/ (make them with the bundle maker described in docs/gpu-host.md).
#   bash tools/gpu_host.sh install           unpack the bundles found in .gpu/ into /tmp/site; when the
#                                            llama.cpp source came, build llama-server and the libraries
#                                            llama-cpp-python runs on with CUDA, in the background
#   bash tools/gpu_host.sh start NAME [--now] CMD..
#                                            run CMD in the background, after the build if one is running
#                                            (--now: at once); output to /tmp/jobs/NAME.log
#   bash tools/gpu_host.sh stop NAME         stop a background job and what it started
#   bash tools/gpu_host.sh wait SECONDS      follow the background jobs for at most SECONDS, then copy their
#                                            logs and any results under /tmp/jobs/out to $OUT
set -uo pipefail
site=/tmp/site; jobs=/tmp/jobs; mkdir -p "$site" "$jobs/out"
export PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 UNSLOTH_DISABLE_STATISTICS=1 TOKENIZERS_PARALLELISM=false
export PIPELINE_ASSETS=/tmp/assets LLAMA_CPP_DIR=/tmp/llama.cpp
case "${1:?install|start|stop|wait}" in
  install)
    for bundle in .gpu/train-kernels.tgz .gpu/train-libs.tgz .gpu/serve-libs.tgz .gpu/extra.tgz; do
      [ -f "$bundle" ] && tar xzf "$bundle" -C "$site" && echo "unpacked $bundle"
    done
    if [ -f .gpu/tiny-tok.tgz ]; then  # the tiny model's tokenizer (the real vocabulary) for 8B-shaped models
      mkdir -p /tmp/assets/tiny-r1-llama && tar xzf .gpu/tiny-tok.tgz -C /tmp/assets/tiny-r1-llama --strip-components 1
    fi
    [ -f .gpu/exams.tgz ] && mkdir -p /tmp/assets && tar xzf .gpu/exams.tgz -C /tmp/assets  # make setup's exams
    # the pinned llama.cpp as make setup unpacks it (converter, gguf-py, build sources)
    [ -f .gpu/llama-cpp-source.tgz ] && mkdir -p /tmp/assets && tar xzf .gpu/llama-cpp-source.tgz -C /tmp/assets
    [ -f .gpu/llama-cpp-python.tgz ] && tar xzf .gpu/llama-cpp-python.tgz -C "$site" && echo "unpacked llama-cpp-python"
    if ls /tmp/assets/llama.cpp-*/CMakeLists.txt > /dev/null 2>&1 && command -v nvcc > /dev/null \
        && [ ! -f "$jobs/llama.log" ]; then  # once per host
      # llama-server with CUDA, as make setup builds it; llama-cpp-python then runs on its libraries.
      # The host's compiler ships a libstdc++ newer than the system's: linked statically.
      setsid bash -c "python3 tools/build_llama_cpp.py --server-only --jobs $(( $(nproc) - 2 )) --cmake-args \
        '-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-90} -DGGML_NATIVE=OFF \
         -DCMAKE_EXE_LINKER_FLAGS=-static-libstdc++ -DCMAKE_SHARED_LINKER_FLAGS=-static-libstdc++' \
        > $jobs/llama.log 2>&1 && { [ ! -d $site/llama_cpp ] || { rm -f $site/llama_cpp/lib/lib*; \
        cp -P \$LLAMA_CPP_DIR/bin/lib*.so* $site/llama_cpp/lib/; }; }; echo \$? > $jobs/llama.done" \
        < /dev/null > /dev/null 2>&1 &
      echo "building llama.cpp with CUDA in the background ($jobs/llama.log)"
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
