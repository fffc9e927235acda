#!/usr/bin/env python3
"""Three SIPp "softphones" for the console walkthrough (README, "Console walkthrough").

For each demo account (1001, 1002, 1003 by default) it registers with
``sipp_scenarios/demo_register.xml`` (digest ``secret<number>`` when the server challenges)
from a local port, then runs ``sipp_scenarios/demo_phone.xml`` on that same port: a phone that
answers every INVITE (100, 180, 200 with PCMU), answers re-INVITEs with the direction that matches
the offer (sendonly -> recvonly, inactive -> inactive, else sendrecv) and BYEs, for any number of
calls, and echoes the RTP it receives (``-rtp_echo``).

It prints one line per phone, then ``ready``, and runs until Ctrl-C / SIGTERM (then it stops the
SIPp processes). It exits 1 if a registration fails or a phone dies on its own.

    python scripts/demo_phones.py                       # server at 127.0.0.1:5060
    python scripts/demo_phones.py --sip 127.0.0.1:5080 --trace-dir /tmp/phones   # SIP logs
"""
from __future__ import annotations

import argparse
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

logger = logging.getLogger("demo_phones")

ROOT = Path(__file__).resolve().parents[1]
REGISTER = ROOT / "sipp_scenarios" / "demo_register.xml"
PHONE = ROOT / "sipp_scenarios" / "demo_phone.xml"


class PhoneError(Exception):
    pass


def register(number: str, password: str, server: str, port: int, media_port: int, trace_dir: Path | None,
             timeout: float) -> None:
    """One REGISTER (answering the digest challenge) from 127.0.0.1:``port``; SIPp exits when done.

    SIPp binds RTP ports even here: give it the phone's own (free until the phone starts), so it
    does not take the default 6000+ ones another phone may be about to use."""
    cmd = ["sipp", server, "-sf", str(REGISTER), "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
           "-m", "1",
           "-s", number, "-au", number, "-ap", password, "-nostdin",
           "-timeout", f"{int(timeout)}s", "-timeout_error"]
    if trace_dir is not None:
        cmd += ["-trace_msg", "-message_file", str(trace_dir / f"register-{number}.log")]
    logger.debug("%s", " ".join(cmd))
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 10, check=False)
    except subprocess.TimeoutExpired:
        raise PhoneError(f"{number}: SIPp registration did not finish") from None
    if out.returncode != 0:
        tail = (out.stdout + out.stderr).strip().splitlines()[-5:]
        raise PhoneError(f"{number}: registration failed (SIPp exit {out.returncode}; is the server at "
                         f"{server} and the password right?) {' | '.join(tail)}")


def wait_bound(port: int, popen: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the phone's SIPp holds its UDP port (our own bind fails), bounded; fails if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise PhoneError(f"SIPp on port {port} exited ({popen.returncode})")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.01)  # polling a condition with a deadline
    raise PhoneError(f"SIPp did not bind port {port} within {timeout:g} s")


def start_phone(number: str, port: int, media_port: int, trace_dir: Path | None,
                timeout: float) -> subprocess.Popen[bytes]:
    cmd = ["sipp", "-sf", str(PHONE), "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
           "-rtp_echo", "-nostdin"]
    if trace_dir is not None:
        cmd += ["-trace_msg", "-message_file", str(trace_dir / f"phone-{number}.log"),
                "-trace_err", "-error_file", str(trace_dir / f"phone-{number}-errors.log")]
    logger.debug("%s", " ".join(cmd))
    popen = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_bound(port, popen, timeout)
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    return popen


def stop(phones: dict[str, subprocess.Popen[bytes]]) -> None:
    for popen in phones.values():
        if popen.poll() is None:
            popen.terminate()
    for popen in phones.values():
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sip", default="127.0.0.1:5060", help="the server's SIP address (UDP)")
    p.add_argument("--numbers", default="1001,1002,1003", help="accounts to register (password secret<number>)")
    p.add_argument("--ports", default="5071,5072,5073", help="local SIP port of each phone")
    p.add_argument("--media-ports", default="16000,16010,16020", help="local RTP port of each phone (echoed)")
    p.add_argument("--trace-dir", type=Path,
                   help="write every SIP message (and SIPp's errors: unexpected messages) of each SIPp there")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a registration may take")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    for name in ("numbers", "ports", "media_ports"):
        setattr(args, name, [x.strip() for x in getattr(args, name).split(",") if x.strip()])
    if not len(args.numbers) == len(args.ports) == len(args.media_ports):
        p.error("--numbers, --ports and --media-ports need one entry per phone")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if shutil.which("sipp") is None:
        print("demo_phones: sipp not found (Debian: apt-get install sip-tester)", file=sys.stderr)
        return 1
    if args.trace_dir is not None:
        args.trace_dir.mkdir(parents=True, exist_ok=True)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    phones: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for number, port, media in zip(args.numbers, args.ports, args.media_ports):
            # Register first, from the port the phone will answer on: the server sends calls to
            # the address the REGISTER came from. Then the answering SIPp takes that port.
            register(number, f"secret{number}", args.sip, int(port), int(media), args.trace_dir, args.timeout)
            phones[number] = start_phone(number, int(port), int(media), args.trace_dir, args.timeout)
            print(f"phone {number}: registered at {args.sip}, answering on 127.0.0.1:{port} "
                  f"(RTP echo on {media})", flush=True)
        print("ready (Ctrl-C stops the phones)", flush=True)
        while True:
            for number, popen in phones.items():
                if popen.poll() is not None:
                    raise PhoneError(f"phone {number} exited on its own ({popen.returncode})")
            time.sleep(0.5)  # supervising children; nothing waits on this
    except PhoneError as exc:
        print(f"demo_phones: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(phones)


if __name__ == "__main__":
    sys.exit(main())
