"""Operator control of a running server: its pid file, and the signals that reload and drain it.

A running ``callcontrol serve`` writes ``<data dir>/callcontrol.pid`` once its listeners are
up. ``callcontrol reload`` sends it SIGHUP (re-read the directory and the reloadable config),
``callcontrol drain`` SIGUSR1 (take no new calls, exit 0 when the last call has ended);
systemd's ``ExecReload`` and a container's ``docker kill -s`` can send the same signals.
The data dir names the server because it is what the directory commands already take.
"""
from __future__ import annotations

import argparse
import errno
import os
import select
import signal
import sys
import time
from pathlib import Path

from callcontrol.config import default_data_dir

PID_FILE = "callcontrol.pid"
RELOAD_SIGNAL = signal.SIGHUP
DRAIN_SIGNAL = signal.SIGUSR1


class ControlError(RuntimeError):
    """No running server to talk to; the message says which file or process was looked for."""


def pid_path(data_dir: Path) -> Path:
    return Path(data_dir) / PID_FILE


def write_pid_file(data_dir: Path) -> Path:
    """Record this process as the server of ``data_dir`` (atomically: never a half-written file)."""
    path = pid_path(data_dir)
    tmp = path.with_name(f".{PID_FILE}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)
    return path


def remove_pid_file(path: Path) -> None:
    """Remove the pid file if it still names this process (a newer server may have replaced it)."""
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def read_pid(data_dir: Path) -> int:
    """The pid of the server running on ``data_dir``; ControlError when there is none."""
    path = pid_path(data_dir)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise ControlError(f"no server running on {data_dir}: {path} does not exist") from None
    except OSError as exc:
        raise ControlError(f"cannot read {path}: {exc.strerror}") from None
    if not text.isdigit():
        raise ControlError(f"{path} does not hold a process id")
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ControlError(f"no server running on {data_dir}: process {pid} named by {path} is gone") from None
    except PermissionError:
        pass  # it exists; sending the real signal will say whether we may
    return pid


def signal_server(data_dir: Path, sig: signal.Signals) -> int:
    pid = read_pid(data_dir)
    try:
        os.kill(pid, sig)
    except PermissionError:
        raise ControlError(f"not allowed to signal process {pid} (run as the server's user)") from None
    return pid


def wait_for_exit(pid: int, timeout: float | None) -> bool:
    """Block until process ``pid`` has exited (True) or ``timeout`` s passed (False).

    A pidfd (Linux 5.3+) becomes readable when the process exits, so this waits without
    polling; elsewhere it falls back to checking every 0.2 s."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        return False
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    except OSError as exc:  # pragma: no cover - EINTR is retried by Python
        if exc.errno == errno.EINTR:
            return False
        raise
    finally:
        os.close(fd)


# -- the commands ----------------------------------------------------------------------------------

def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=description)
        parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                            help="the running server's data directory (default: $CALLCONTROL_STORE__DATA_DIR "
                                 "or ./callcontrol-data)")
        return parser

    command("reload", "tell the running server to re-read its directory and reloadable config (SIGHUP)",
            "Send SIGHUP to the server running on DATA_DIR: it re-reads the directory and the "
            "reloadable parts of its config file and logs one line saying what changed or why it "
            "refused.")
    drain = command("drain", "stop taking new calls, exit when the last call ends (SIGUSR1)",
                    "Send SIGUSR1 to the server running on DATA_DIR: new INVITEs get 503 with "
                    "Retry-After, calls already up go on, and the server exits 0 when the last one "
                    "ends (or when its configured drain limit is reached).")
    drain.add_argument("--wait", action="store_true", help="return only once the server has exited")
    drain.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="with --wait: give up waiting after this long (exit 1)")


def run(args: argparse.Namespace) -> int:
    sig = RELOAD_SIGNAL if args.command == "reload" else DRAIN_SIGNAL
    try:
        pid = signal_server(args.data_dir, sig)
    except ControlError as exc:
        sys.stderr.write(f"callcontrol {args.command}: {exc}\n")
        return 1
    sys.stdout.write(f"sent {sig.name} to server process {pid}\n")
    if args.command == "drain" and args.wait:
        sys.stdout.flush()
        if not wait_for_exit(pid, args.timeout):
            sys.stderr.write(f"callcontrol drain: process {pid} still running after {args.timeout} s\n")
            return 1
        sys.stdout.write(f"server process {pid} has exited\n")
    return 0
