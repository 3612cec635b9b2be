"""`run-local --serve`: a GGUF model behind an OpenAI-compatible server that lives and dies with us.

The port is bound here, before the server child starts, and handed to it as a file descriptor:
a taken port is a usage error before anything claims to serve, and the readiness check can only
ever reach our own child. The child runs in its own process group and asks the kernel to send it
SIGTERM when its parent dies (see server.py), so SIGTERM, SIGINT, SIGHUP or a SIGKILL of this
process never leave a server answering on the port. The child answers with the model's defaults
for what a request leaves unset, and asks for the API key when one is given (it gets it in its
environment, never on its command line).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from llmctl.core.errors import ProviderError, UsageError
from llmctl.providers.base import ModelRef
from llmctl.providers.defaults import model_defaults
from llmctl.providers.gguf.file import GGUFHeader
from llmctl.providers.gguf.provider import GGUFProvider
from llmctl.providers.gguf.serve_asgi import KEY_ENV

#: Signals that stop the server as Ctrl-C does (SIGINT arrives as KeyboardInterrupt).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ServerStopped(BaseException):
    """A stop signal arrived; like KeyboardInterrupt, no `except Exception` swallows it on the way out."""


@dataclass
class ServePlan:
    """What the server child is started with."""

    model: str
    alias: str
    n_ctx: int
    threads: int
    n_gpu_layers: int | None
    embedding: bool
    mean_pooling: bool
    #: what a request leaves unset gets these: the system prompt and sampling settings `complete` uses
    defaults: dict[str, Any] = field(default_factory=dict)

    def arguments(self, fd: int) -> list[str]:
        """The child's command line (llama_cpp.server flags plus our --fd and --parent-pid)."""
        args = [sys.executable, "-m", "llmctl.providers.gguf.server", "--fd", str(fd),
                "--parent-pid", str(os.getpid()), "--model", self.model, "--model_alias", self.alias,
                "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
                "--n_threads_batch", str(self.threads), "--verbose", "False",
                "--embedding", "true" if self.embedding else "false"]
        if self.mean_pooling:
            args.append("--mean-pooling")
        if self.defaults:
            args += ["--request-defaults", json.dumps(self.defaults)]
        if self.n_gpu_layers is not None:
            args += ["--n_gpu_layers", str(self.n_gpu_layers)]
        return args


def plan_for(provider: GGUFProvider, ref: ModelRef, *, embedding: bool = False) -> ServePlan:
    """The serve plan for a model: embedding models always serve /v1/embeddings; others when asked."""
    header: GGUFHeader = provider.header(ref)
    embedding = embedding or header.is_embedding_only
    layers = provider.options.n_gpu_layers
    return ServePlan(model=ref.model, alias=ref.label.partition(":")[2] or ref.label,
                     n_ctx=provider.n_ctx(ref), threads=provider.thread_count(),
                     n_gpu_layers=None if layers is None else int(layers), embedding=embedding,
                     # A chat model declares no pooling; mean pooling gives one vector per input.
                     mean_pooling=embedding and header.pooling_type in (None, 0),
                     defaults={} if header.is_embedding_only else model_defaults(ref, provider))


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (127.0.0.0/8, ::1): only this machine reaches it."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).partition("%")[0]).is_loopback
                               for info in infos)


def bind_port(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a usage error that names the port."""
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, not {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is already in use; pick another with --port") from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class LocalServer:
    """The server child: started on a bound socket, waited for, and always stopped."""

    def __init__(self, plan: ServePlan, host: str, port: int, *, show_log: bool = False,
                 api_key: str | None = None) -> None:
        self.plan = plan
        self.host = host
        self.port = port
        self.show_log = show_log
        self._api_key = api_key
        self.child: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()
        self._previous: dict[int, Any] = {}

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def _probe_url(self) -> str:
        """Where the readiness check asks: a wildcard address (0.0.0.0, ::) is asked on loopback."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1/models"

    def start(self) -> None:
        sock = bind_port(self.host, self.port)
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        if self._api_key:
            env[KEY_ENV] = self._api_key
        try:
            output = None if self.show_log else self._log
            self.child = subprocess.Popen(
                self.plan.arguments(sock.fileno()), pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, env=env,
                stdout=output, stderr=subprocess.STDOUT if output else None,
                # Its own process group: a terminal's Ctrl-C reaches only us, and we stop it.
                start_new_session=True)
        finally:
            sock.close()  # the child holds its own copy

    def _log_tail(self) -> str:
        self._log.seek(0)
        return " ".join(self._log.read().decode("utf-8", "replace").split()[-40:])

    def wait_ready(self, timeout: float = 120) -> None:
        assert self.child is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.child.poll() is not None:
                raise ProviderError(f"the server for {self.plan.alias} exited with code {self.child.returncode}: "
                                    f"{self._log_tail()}")
            probe = urllib.request.Request(self._probe_url)
            if self._api_key:
                probe.add_header("Authorization", f"Bearer {self._api_key}")
            try:
                with urllib.request.urlopen(probe, timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ProviderError(f"the server for {self.plan.alias} did not answer on {self.base_url} "
                                    f"within {timeout:.0f} s")
            time.sleep(0.2)

    def wait(self) -> None:
        """Block while the server runs; a stop signal raises ServerStopped, Ctrl-C KeyboardInterrupt."""
        assert self.child is not None
        self.child.wait()
        raise ProviderError(f"the server for {self.plan.alias} stopped with code {self.child.returncode}: "
                            f"{self._log_tail()}")

    def stop(self) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self._log.close()

    def __enter__(self) -> LocalServer:
        # From here on SIGTERM and SIGHUP raise ServerStopped (in the main thread), so every way
        # out passes through __exit__ and stops the child.
        if threading.current_thread() is threading.main_thread():  # signal handlers live there only
            self._previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # A second signal while the child stops must not cut the stop short.
        if threading.current_thread() is threading.main_thread():
            for sig in (*STOP_SIGNALS, signal.SIGINT):
                self._previous.setdefault(sig, signal.signal(sig, signal.SIG_IGN))
        try:
            self.stop()
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise ServerStopped(signal.Signals(signum).name)
