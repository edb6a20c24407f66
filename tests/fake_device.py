"""A fake device for the profiler tests: a thread on a loopback socket speaking the MLPerf Tiny /
ofa-mcu serial protocol, reached with pyserial's ``socket://127.0.0.1:PORT`` exactly like QEMU's
UART. :func:`ofa_device` is a well-behaved firmware; :func:`faulty` plays one broken-device
failure (:data:`FAULTS`) on top of it -- what a real broken board does, which cannot be produced
on demand otherwise."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

CLOSE = object()  # handler result: drop the connection
BANNER = b"m-timestamp-mode-performance\r\nm-init-done\r\nm-ready\r\n"


class FakeDevice:
    """A scripted device: ``handler(command, device)`` returns reply bytes, None (stay silent)
    or CLOSE. Reachable at ``self.url``; ``close()`` stops it."""

    def __init__(self, handler: Callable[[str, FakeDevice], object], on_connect: bytes = b"") -> None:
        self.handler = handler
        self.on_connect = on_connect
        self.commands: list[str] = []
        self.state: dict = {}
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        self._srv.settimeout(0.2)
        self.url = f"socket://127.0.0.1:{self._srv.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn = None
        while not self._stop.is_set() and conn is None:
            try:
                conn, _ = self._srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
        if conn is None:
            return
        conn.settimeout(0.2)
        try:
            if self.on_connect:
                conn.sendall(self.on_connect)
            buf = b""
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    return
                buf += data
                while b"%" in buf:
                    cmd, buf = buf.split(b"%", 1)
                    text = cmd.decode()
                    self.commands.append(text)
                    reply = self.handler(text, self)
                    if reply is CLOSE:
                        conn.close()
                        return
                    if reply is not None:
                        conn.sendall(reply)  # type: ignore[arg-type]
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._srv.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ofa_device(cmd: str, dev: FakeDevice, *, extensions: bool = True, nbytes: int = 8) -> bytes:
    """A well-behaved fake ofa-mcu firmware: output = input bytes summed in pairs (int8)."""
    st = dev.state
    parts = cmd.split()
    r = ""
    if not parts:
        pass
    elif parts[0] == "name":
        r = "m-name-dut-[fake]\r\n"
    elif parts[0] == "ofa-info" and extensions:
        r = ("m-ofa-info-[board=fake-board,core=cortex-m4,counter=dwt,clock_hz=100000000,emulated=0,"
             f"model=fake,runtime=test,input_bytes={nbytes},output_bytes=2,arena_bytes=1000,max_runs=64,version=1]\r\n")
    elif parts[:2] == ["db", "load"]:
        st["size"], st["buf"] = int(parts[2]), b""
        r = f"m-[Expecting {parts[2]} bytes]\r\n"
    elif parts[0] == "db":
        st["buf"] += bytes.fromhex(parts[1])
        st.setdefault("chunks", []).append(len(parts[1]) // 2)
        r = "m-load-done\r\n" if len(st["buf"]) == st["size"] else ""
    elif parts[0] == "infer":
        n, w = int(parts[1]), int(parts[2])
        x = [b - 256 if b > 127 else b for b in st["buf"]]
        st["out"] = [max(-128, min(127, x[0] + x[1])), max(-128, min(127, x[2] + x[3]))]
        st["runs"], st["warmup"] = n, w
        r = (f"m-warmup-start-{w}\r\nm-warmup-done\r\nm-infer-start-{n}\r\nm-lap-us-1000\r\n"
             f"m-lap-us-{1000 + 2000 * n}\r\nm-infer-done\r\n"
             "m-results-[" + ",".join(f"{q / 10:.3f}" for q in st["out"]) + "]\r\n")
    elif parts[0] == "ofa-cycles" and extensions:
        n = st["runs"]
        cyc = [200000 + 10 * i for i in range(n)]
        r = (f"m-ofa-cycles-[runs={n},warmup={st['warmup']},sum={sum(cyc)},min={min(cyc)},max={max(cyc)},"
             f"recorded={n}]\r\nm-ofa-cycles-list-[{','.join(map(str, cyc))}]\r\n")
    elif parts[0] == "ofa-layers" and extensions:
        r = "m-ofa-layers-[count=2,dropped=0]\r\nm-ofa-layer-[0,conv,150000]\r\nm-ofa-layer-[1,fc,49000,head]\r\n"
    elif parts[0] == "ofa-out" and extensions:
        r = f"m-ofa-out-[{','.join(map(str, st['out']))}]\r\n"
    elif parts[0] == "ofa-mem" and extensions:
        r = "m-ofa-mem-[arena_used=900,arena_bytes=1000,stack_used=700,stack_bytes=8192,static_ram=3000]\r\n"
    else:
        r = f"e-[Unknown command: {parts[0]}]\r\n"
    return (r + "m-ready\r\n").encode()


WRAP = 1 << 32


def _lap_lines(t0: int, t1: int) -> str:
    return f"m-lap-us-{t0}\r\nm-lap-us-{t1}\r\n"


def faulty(fault: str, **kw: object) -> Callable[[str, FakeDevice], object]:
    """A handler that behaves like :func:`ofa_device` except for ``fault`` (one of FAULTS)."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}")

    def handler(cmd: str, dev: FakeDevice) -> object:
        verb = cmd.split()[0] if cmd.split() else ""
        if fault == "silence":
            return None
        if fault == "flood" and verb == "name":
            return b"A" * int(kw.get("flood_bytes", (1 << 20) + 4096))
        if fault == "absurd-input-size" and verb == "ofa-info":
            return (b"m-ofa-info-[board=fake-board,core=cortex-m4,counter=dwt,clock_hz=100000000,emulated=0,"
                    b"model=fake,runtime=test,input_bytes=1000000000000,output_bytes=2,arena_bytes=1000]\r\nm-ready\r\n")
        if fault == "absurd-clock" and verb == "ofa-info":
            return (b"m-ofa-info-[board=fake-board,core=cortex-m4,counter=dwt,clock_hz=-5,emulated=0,"
                    b"model=fake,runtime=test,input_bytes=8,output_bytes=2,arena_bytes=1000]\r\nm-ready\r\n")
        reply = ofa_device(cmd, dev).decode()
        if verb == "infer":
            n = int(cmd.split()[1])
            laps = {"lap-wrap": (WRAP - 500, 1500 + 2000 * n - 2000),
                    "lap-backwards": (5_000_000, 1000),
                    "lap-too-large": (1000, WRAP + 5)}.get(fault)
            if laps is not None:
                reply = reply.replace(_lap_lines(1000, 1000 + 2000 * n), _lap_lines(*laps))
            if fault in ("nan-results", "inf-results"):
                bad = "nan" if fault == "nan-results" else "inf"
                head, _, tail = reply.partition("m-results-[")
                reply = head + f"m-results-[{bad},0.5" + tail[tail.index("]"):]
            if fault == "bad-results":
                head, _, tail = reply.partition("m-results-[")
                reply = head + "m-results-[0.3,0.x7" + tail[tail.index("]"):]
        if fault == "bad-digit" and verb == "ofa-cycles":
            reply = reply.replace("m-ofa-cycles-list-[2", "m-ofa-cycles-list-[2O")
        if fault == "bad-out" and verb == "ofa-out":
            reply = reply.replace("m-ofa-out-[", "m-ofa-out-[1e3,")
        if fault == "out-of-int8" and verb == "ofa-out":
            reply = reply.replace("m-ofa-out-[", "m-ofa-out-[4000,")
        if fault == "negative-cycles" and verb == "ofa-layers":
            reply = reply.replace("[0,conv,150000]", "[0,conv,-150000]")
        return reply.encode()

    return handler


FAULTS = ("silence", "flood", "absurd-input-size", "absurd-clock", "lap-wrap", "lap-backwards", "lap-too-large",
          "nan-results", "inf-results", "bad-results", "bad-digit", "bad-out", "out-of-int8", "negative-cycles")
