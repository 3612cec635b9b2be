"""The forked child that makes the one blocking `llama_model_quantize` call and reports on a pipe.

It writes JSON lines: `{"tensor": i, "of": n, "name": ...}` for each tensor llama.cpp logs,
`{"fallback": n}` when llama.cpp says tensors needed another type, and last
`{"rc": code, "error": line, "seconds": s}` (s: how long the llama.cpp call itself took).
llama.cpp's own log goes to the job's log file, never to the terminal. Running the call in a
child lets the parent kill it at once on Ctrl-C (a C call cannot be interrupted from Python) and
remove the half-written file; forking the process that has llama_cpp loaded already makes the
child cost milliseconds, not an interpreter start. Where a fork is not safe (see `fork_is_safe`)
a fresh interpreter runs the job from stdin instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

_PROGRESS = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\s*\]\s+(\S+)")
_FALLBACK = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback quantization")
#: seconds between progress events at most (the first and the last tensor are always reported)
PROGRESS_INTERVAL = 0.1
_ERROR = re.compile(r"(error|failed|exception|abort|invalid|cannot|unsupported)", re.IGNORECASE)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the llmctl that started us
    except OSError:
        pass


def _drop_inherited_free_heap() -> None:
    """Give the free heap pages inherited from the parent back to the kernel.

    After a fork they are shared copy-on-write: the quantizer's large buffers would reuse them
    and pay a 4 KiB copy per page, where a page handed back comes as a cheaper zeroed one.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def fork_is_safe() -> bool:
    """Whether a forked child can run llama.cpp: no torch loaded and no thread pools started.

    A process that has run OpenMP (torch, or a llama.cpp model) keeps worker threads and locks
    that a forked child inherits half-taken, and llama.cpp's loader can then hang in the child.
    Importing llama_cpp itself starts one thread, which is harmless.
    """
    import llama_cpp  # noqa: F401 - counted in, and loaded before a fork

    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        return False
    return "torch" not in sys.modules and threads <= 2 and hasattr(os, "fork")


def spawn_worker(job: dict[str, Any]) -> subprocess.Popen[str]:
    """A fresh interpreter running `job` (`python -m llmctl.quantize.quant_worker`), events on stdout."""
    import llmctl

    root = str(Path(llmctl.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen([sys.executable, "-m", "llmctl.quantize.quant_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)  # Ctrl-C reaches llmctl, which then ends the child
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    return proc


def fork_worker(job: dict[str, Any]) -> tuple[int, int]:
    """Fork a child running `job`; returns (pid, read end of its event pipe)."""
    import llama_cpp  # noqa: F401 - loaded before the fork, so the child starts with it

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code = 1
        try:
            os.close(read_fd)
            os.setsid()  # Ctrl-C reaches the parent only, which then ends this process
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            _drop_inherited_free_heap()
            with os.fdopen(write_fd, "w", encoding="utf-8") as events:
                code = run(job, events)
        except BaseException as exc:  # report, then leave without running the parent's cleanup
            with contextlib.suppress(Exception):
                os.write(write_fd, (json.dumps({"rc": -1, "error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _imatrix_entries(path: str) -> list[tuple[str, Any]]:
    from llmctl.quantize.imatrix import load_imatrix

    return list(load_imatrix(path).items())


def _kv_overrides(metadata: dict[str, float | int], keep: list[Any]) -> Any:
    """llama.cpp's metadata overrides, which its quantizer writes into the output (a float as f32, an int
    as u32), as the array it reads up to the first entry with an empty key."""
    import llama_cpp

    array = (llama_cpp.llama_model_kv_override * (len(metadata) + 1))()
    for entry, (key, value) in zip(array, metadata.items(), strict=False):
        entry.key = key.encode()
        if isinstance(value, int):
            entry.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
            entry.value.val_i64 = value
        else:
            entry.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_FLOAT
            entry.value.val_f64 = float(value)
    keep.append(array)
    return ctypes.cast(array, ctypes.POINTER(llama_cpp.llama_model_kv_override))


def run(job: dict[str, Any], events: TextIO) -> int:
    import llama_cpp

    def _emit(event: dict[str, Any]) -> None:
        events.write(json.dumps(event) + "\n")
        events.flush()

    log = open(job["log"], "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
    state: dict[str, Any] = {"pending": "", "error": "", "sent": 0.0}

    def on_line(line: str) -> None:
        log.write(line + "\n")
        match = _PROGRESS.search(line)
        if match:
            done, total = int(match.group(1)), int(match.group(2))
            now = time.monotonic()
            # A few updates a second are plenty for a progress bar; waking the parent for each of
            # hundreds of tensors would take CPU from the quantizer's own threads.
            if done == 1 or done == total or now - state["sent"] >= PROGRESS_INTERVAL:
                state["sent"] = now
                _emit({"tensor": done, "of": total, "name": match.group(3)})
            return
        match = _FALLBACK.search(line)
        if match:
            _emit({"fallback": int(match.group(1)), "of": int(match.group(2))})
        elif _ERROR.search(line):
            state["error"] = line.strip()

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        state["pending"] += text.decode("utf-8", errors="replace")
        while "\n" in state["pending"]:
            line, state["pending"] = state["pending"].split("\n", 1)
            on_line(line)

    llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = int(job["threads"])
    params.ftype = int(job["ftype"])
    params.allow_requantize = bool(job["allow_requantize"])
    params.quantize_output_tensor = not job["leave_output_tensor"]
    keep: list[Any] = []
    if job.get("imatrix"):
        entries = _imatrix_entries(job["imatrix"])
        array = (llama_cpp.llama_model_imatrix_data * (len(entries) + 1))()
        for i, (name, values) in enumerate(entries):
            encoded = name.encode()
            keep.extend([values, encoded])
            array[i].name = encoded
            array[i].data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            array[i].size = int(values.size)
        keep.append(array)  # the last entry stays zeroed: llama.cpp stops at a NULL name
        params.imatrix = ctypes.cast(array, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    if job.get("metadata"):
        params.kv_overrides = _kv_overrides(job["metadata"], keep)
    started = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(job["source"].encode(), job["output"].encode(), ctypes.byref(params))
    seconds = time.perf_counter() - started
    if state["pending"]:
        on_line(state["pending"])
    log.close()
    _emit({"rc": int(rc), "error": state["error"], "seconds": seconds})
    return 0


def main() -> int:
    _die_with_parent()
    job = json.loads(sys.stdin.read())
    return run(job, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
