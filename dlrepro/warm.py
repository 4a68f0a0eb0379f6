"""Warm starts: workflow jobs on one machine fork from a process that has imported torch.

Every job is a fresh Python process, and a fresh process pays about 4 s of CPU to import
torch (2.0 s), `torch._dynamo` (1.3 s; torch.optim imports it on an optimizer's first
parameter group) and pandas before it does any work. A smoke-scale run trains for about a
second, so the smoke workflow was import-bound, and at cpu scale the imports were ~10 % of
alexnet's CPU time (48 runs).

So the first job on a machine starts a small server (this file, run as a script) that
imports the heavy third-party libraries once and then waits on a Unix socket. A job function of
`dlrepro.jobs` marked `@delegable`, called from a workflow job, sends the server its name and
plain keyword arguments with the job's stdin, stdout and stderr (by then its log file: the
call happens inside `job_log`); the server forks a child that takes the job's environment,
working directory and `sys.path` and runs the function. The child sends back how it ended (done,
an exception, an exit code, a preemption), which the job's process raises as its own, so
`job_log` reports it as before. Meanwhile the job's process passes on the signals a scheduler
sends (SIGTERM, SIGINT, SIGUSR1: a run still checkpoints and exits 143). If the job's process
dies, the server ends the child. The server exits after `IDLE_SECONDS` without a job.

The workflow scripts are not changed by any of this (Snakemake reruns every job of a rule
whose script file is newer than its outputs).

What stays the same:
- the code: the server imports no dlrepro or reproduction module, so an edit is seen by the
  next job, as with a fresh process; a changed virtual environment (its site-packages folder's
  mtime) gets a new server;
- the numbers: each run seeds and configures torch itself (`runner.start_torch`); the server
  never runs a torch operation, so the child's thread pool starts fresh, as in a new process
  (test_warm checks that a forked run writes the same metrics as a fresh one).

It is used only where the workflow turned it on (`DLREPRO_WARM=1`, set by common.smk unless the
user set it to 0), only on Linux (fork is what makes it cheap; macOS frameworks are not
fork-safe) and not inside a SLURM job (each job has its own node: nothing to share). A call from
a test or a notebook runs in place. When no server answers, the job starts one and hands
itself to it as soon as it listens; if none listens within `START_SECONDS`, the job runs in its
own process, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib
import os
import pickle
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

IDLE_SECONDS = 120.0  # spans the gaps between jobs and between workflow invocations
START_SECONDS = 10.0  # how long a job waits for a server it started to take connections
# What the server imports once. Only third-party libraries: dlrepro's own modules and the
# reproductions are imported by each child, so edits to them take effect at once.
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "yaml",
    "torch",
    "torch._dynamo",
    "torch.optim",
    "matplotlib.pyplot",
    "threadpoolctl",
)
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
_HEADER = struct.Struct("!I")


def enabled() -> bool:
    return (
        sys.platform == "linux"
        and os.environ.get("DLREPRO_WARM") == "1"
        and "SLURM_JOB_ID" not in os.environ
    )


def socket_path() -> Path:
    """One server per user, interpreter, state of its installed packages and of this file, in
    a folder only the user can enter (no other user can stand in for the server)."""
    site = sysconfig.get_paths()["purelib"]
    key = "|".join(
        [
            os.path.realpath(sys.executable),
            sys.prefix,
            site,
            str(os.stat(site).st_mtime_ns) if os.path.isdir(site) else "",
            os.environ.get("PYTHONPATH", ""),
            str(os.stat(__file__).st_mtime_ns),
        ]
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dlrepro-warm-{os.getuid()}" / f"{digest}.sock"


def _private_folder(path: Path) -> bool:
    """Create the socket's folder (mode 0700) and check that it is the user's alone."""
    with contextlib.suppress(FileExistsError, OSError):
        path.parent.mkdir(mode=0o700)
    try:
        st = path.parent.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def _plain(value: Any) -> Any:
    """Snakemake's paths and lists are subclasses of str and list: send the plain values, so
    that the child need not import Snakemake to read them."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def delegable(function: F) -> F:
    """Mark a keyword-only job function of `dlrepro.jobs` as one a warm child may run. Its
    return value is then not seen (the workflow scripts do not use it)."""

    @functools.wraps(function)
    def job(**kwargs: Any) -> Any:
        if enabled():
            ended = _run_remote(function.__module__, function.__name__, _plain(kwargs))
            if ended is not None:
                return _raise_as_here(ended)
        return function(**kwargs)

    return job  # type: ignore[return-value]


def _raise_as_here(ended: tuple[str, Any]) -> None:
    kind, value = ended
    if kind == "raise":
        raise value
    if kind == "preempted":
        from dlrepro.preemption import Preempted

        raise Preempted(*value)
    if kind == "exit" and value:
        raise SystemExit(value)


# -- the job's side ------------------------------------------------------------------------
def _run_remote(module: str, name: str, kwargs: dict[str, Any]) -> tuple[str, Any] | None:
    """How the child ended, or None when no server took the job (it then runs here)."""
    path = socket_path()
    if not _private_folder(path):
        return None
    conn = _connect(path, 0.0)
    if conn is None:  # start one and hand this job to it too: a job that ran here instead
        _start_server(path)  # would not keep the server from idling out (it binds at once,
        conn = _connect(path, START_SECONDS)  # and takes the job after its imports)
    if conn is None:
        return None
    request = pickle.dumps(
        {
            "module": module,
            "name": name,
            "kwargs": kwargs,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "path": list(sys.path),
            "argv": list(sys.argv),
            "umask": _umask(),
        }
    )
    # The child writes where this process writes now (inside job_log: the job's log file).
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = _fileno(sys.stdout, 1), _fileno(sys.stderr, 2)
    result_r, result_w = os.pipe()
    try:
        socket.send_fds(conn, [_HEADER.pack(len(request))], [0, out, err, result_w])
        conn.sendall(request)
        pid = _read_int(conn)
    except OSError:
        pid = None
    finally:
        os.close(result_w)
    if pid is None:  # the server could not take it (e.g. it is shutting down)
        conn.close()
        os.close(result_r)
        return None

    try:  # a handle on the child itself: a signal cannot reach a recycled pid
        handle: int | None = os.pidfd_open(pid)
    except OSError:
        handle = None

    def send(signum: int) -> None:
        with contextlib.suppress(OSError):
            if handle is not None:
                signal.pidfd_send_signal(handle, signum)
            else:
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, lambda n, f: send(n)) for sig in FORWARDED}
    try:
        data, code = _wait(conn, result_r)
        if code is None:  # the server is gone: its child must not run on unattended
            send(signal.SIGKILL)
            print("dlrepro: the warm-start server ended during the job", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        conn.close()
        os.close(result_r)
        if handle is not None:
            os.close(handle)
    try:
        if data:
            return pickle.loads(data)
    except Exception as e:
        return ("raise", RuntimeError(f"the job failed, and its error could not be read: {e}"))
    return ("exit", code if code is not None else 1)  # the child died without a word


def _connect(path: Path, patience: float) -> socket.socket | None:
    deadline = time.monotonic() + patience
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            return conn
        except OSError:
            conn.close()
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def _wait(conn: socket.socket, result: int) -> tuple[bytes, int | None]:
    """Read the child's account of itself until the server reports its exit code. (Not until
    the pipe's end: a process the job started may still hold it.)"""
    os.set_blocking(result, False)
    data = b""
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ)
    sel.register(result, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is conn:
                code = _read_int(conn)
                with contextlib.suppress(BlockingIOError):
                    while chunk := os.read(result, 1 << 16):
                        data += chunk
                return data, code
            try:
                chunk = os.read(result, 1 << 16)
            except BlockingIOError:
                continue
            if chunk:
                data += chunk
            else:
                sel.unregister(result)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fileno(stream: Any, default: int) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return default


def _read_int(conn: socket.socket) -> int | None:
    data = b""
    while len(data) < _HEADER.size:
        chunk = conn.recv(_HEADER.size - len(data))
        if not chunk:
            return None
        data += chunk
    return _HEADER.unpack(data)[0]


def _start_server(path: Path) -> None:
    with contextlib.suppress(OSError):
        subprocess.Popen(
            # This file as a script, not `-m dlrepro.warm`: the server imports no dlrepro
            # module, so each child imports the one its job's `sys.path` finds.
            [sys.executable, __file__, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in the job's process group: it outlives the job
            close_fds=True,
        )


# -- the server's side ---------------------------------------------------------------------
def serve(path: Path, idle_seconds: float = IDLE_SECONDS) -> None:
    if not _private_folder(path):
        return
    try:
        lock = open(f"{path}.lock", "w")  # noqa: SIM115 (held for the server's life)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server is starting or running
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))  # before the imports: a server that cannot bind costs nothing
    listener.listen(64)  # jobs that come during the imports wait in the backlog
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    idle_since = time.monotonic()
    try:
        while children or time.monotonic() - idle_since < idle_seconds:
            for key, _ in sel.select(timeout=0.05):
                if key.fileobj is listener:
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        continue
                    pid = _fork_job(conn, [listener, *children.values()])
                    if pid is None:
                        conn.close()
                        continue
                    children[pid] = conn
                    sel.register(conn, selectors.EVENT_READ, pid)
                else:  # the job's process died without passing a signal on (SIGKILL):
                    with contextlib.suppress(OSError):  # its child and the child's own go too
                        os.killpg(key.data, signal.SIGKILL)
                    sel.unregister(key.fileobj)
            for pid in list(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
                conn = children.pop(pid)
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(conn)
                with contextlib.suppress(OSError):
                    code = os.waitstatus_to_exitcode(status)  # -N: killed by signal N
                    conn.sendall(_HEADER.pack(code if code >= 0 else 128 - code))
                conn.close()
                idle_since = time.monotonic()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener.close()


def _fork_job(conn: socket.socket, others: list[socket.socket]) -> int | None:
    fds: list[int] = []
    conn.settimeout(10.0)  # a job that connects and stalls must not hold up the others
    try:
        size_data, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 4)
        if len(fds) != 4:
            raise OSError("a request comes with four streams")
        (size,) = _HEADER.unpack(size_data)
        request = b""
        while len(request) < size:
            chunk = conn.recv(size - len(request))
            if not chunk:
                raise OSError("short request")
            request += chunk
    except (OSError, struct.error):
        for fd in fds:
            os.close(fd)
        return None
    conn.settimeout(None)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    if pid == 0:
        for sock in [*others, conn]:  # the child holds only its job's streams
            sock.close()
        code = 1
        try:
            code = _child(pickle.loads(request), fds)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(_HEADER.pack(pid))
    except OSError:  # the job is gone already
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    return pid  # reaped by the loop


def _match_thread_counts() -> None:
    """OpenMP and BLAS read their thread counts from the environment when they load, which for a
    child was the server's start. Set them to what the job's environment says (Snakemake puts
    the job's `threads` in OMP_NUM_THREADS), as a fresh process would have them."""
    n = os.environ.get("OMP_NUM_THREADS", "")
    if n.isdigit():
        with contextlib.suppress(Exception):
            from threadpoolctl import threadpool_limits

            threadpool_limits(int(n))


def _child(request: dict[str, Any], fds: list[int]) -> int:
    """Become the job: its streams, environment, folder and import path; run it; say how it
    ended on the result pipe (fd 3)."""
    os.setsid()
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    # The server's streams were /dev/null (block-buffered); the job's log is line-buffered.
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["DLREPRO_WARM"] = "0"  # what the job calls runs here, not in another child
    _match_thread_counts()
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    random.seed()  # a fresh process's unseeded generators differ from run to run; so do these
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    sys.path[:] = request["path"]
    sys.argv[:] = request["argv"]
    for name in [m for m in sys.modules if m == "dlrepro" or m.startswith("dlrepro.")]:
        del sys.modules[name]  # (none, unless a preloaded library imported it)
    code = 0
    try:
        function = getattr(importlib.import_module(request["module"]), request["name"])
        function.__wrapped__(**request["kwargs"])
        ended: tuple[str, Any] = ("ok", None)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int | None):
            print(e.code, file=sys.stderr)  # as Python prints sys.exit("message")
        ended = ("exit", code)
        if hasattr(e, "step"):  # a Preempted run: it checkpointed at `step`
            ended = ("preempted", (e.step, getattr(e, "by", None)))
    except BaseException as e:
        from dlrepro.errors import UserError

        if not isinstance(e, UserError):  # the job's log gets the traceback from where it was
            traceback.print_exc()
        code = 1
        ended = ("raise", e)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        data = pickle.dumps(ended)
        pickle.loads(data)  # what the job's process will do with it
    except Exception:  # an exception that does not pickle: its type and message
        data = pickle.dumps(("raise", RuntimeError(f"{type(ended[1]).__name__}: {ended[1]}")))
    with contextlib.suppress(OSError), os.fdopen(3, "wb") as result:
        result.write(data)
    return code


if __name__ == "__main__":
    del sys.path[0]  # this file's folder: its names (config, data, ...) must not shadow others
    serve(Path(sys.argv[1]))
