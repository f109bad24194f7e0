"""A protocol test server for adb: the *device* side of the adb wire protocol over TCP.

THIS IS NOT ANDROID. It speaks enough of adbd's protocol (CNXN/OPEN/OKAY/WRTE/CLSE, the
``shell:`` and ``shell,v2:`` services with exit codes, the sync service
STAT/LIST/SEND/RECV/DATA/DONE/QUIT, and the ``reverse:`` service) that the real Debian ``adb``
client can ``adb connect 127.0.0.1:PORT`` and then push, pull, run shell commands and
``adb reverse`` against it, so the harness's adb code path runs end to end in CI. Commands run
on the *host* with ``sh -c``.

The device filesystem is a sandbox folder: sync paths map to ``root + path``, and in shell
commands the prefixes in ``MAPPED`` (``/data/local/tmp``, ``/sys/devices/system/cpu``) are
rewritten to the sandbox. ``getprop`` and ``dumpsys`` are small scripts in the sandbox's
``/system/bin`` that print canned Android-like output, so parsers see realistic text; ``am``
only records its arguments (``am_calls``) and starts nothing. ``adb reverse`` is answered the way
adbd answers it, but the forwards are only recorded (``reverse_forwards``): nothing listens on
the "device" side and no connection is carried back to the host. There is no auth, no SELinux,
no ``pm``, and no real thermal data: real-phone behaviour is covered only by the opt-in test
selected with ``EDGEBERT_ADB_SERIAL``.
"""

from __future__ import annotations

import os
import platform
import queue
import shlex
import signal
import socket
import stat
import struct
import subprocess
import threading
from pathlib import Path


def _cmd(name: bytes) -> int:
    return struct.unpack("<I", name)[0]


CNXN, OPEN, OKAY, WRTE, CLSE, AUTH = (_cmd(c) for c in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE", b"AUTH"))
VERSION = 0x01000001  # skip-checksum version, what adb 1.0.41 speaks
MAX_PAYLOAD = 256 * 1024
FEATURES = "shell_v2,cmd,fixed_push_mkdir"  # no stat_v2/ls_v2/sendrecv_v2: the client falls back to v1 sync
MAPPED = ("/data/local/tmp", "/sys/devices/system/cpu")
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4

PROPS = {
    "ro.product.model": "Edgebert Test Server",
    "ro.product.manufacturer": "edgebert",
    "ro.product.name": "edgebert_adbd",
    "ro.product.device": "adbd_test",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.product.cpu.abi": platform.machine(),  # commands run on this host
    "ro.product.cpu.abilist": platform.machine(),
    "ro.kernel.qemu": "1",  # Android emulators set this; here it marks results as not-a-phone
}

_DUMPSYS = r"""#!/bin/sh
# canned dumpsys (edgebert adb protocol test server; not Android)
root="$(dirname "$0")/../.."
temp=$(cat "$root/battery_temperature" 2>/dev/null || echo 312)
case "$1" in
battery) cat <<EOF
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Max charging current: 500000
  status: 2
  health: 2
  present: true
  level: 85
  scale: 100
  voltage: 4264
  temperature: $temp
  technology: Li-ion
EOF
;;
thermalservice) cat <<EOF
IsStatusOverride: false
ThermalEventListeners:
	callbacks: 1
Thermal Status: $(cat "$root/thermal_status" 2>/dev/null || echo 0)
Cached temperatures:
	Temperature{mValue=31.2, mType=2, mName=battery, mStatus=0}
HAL Ready: true
Current temperatures from HAL:
	Temperature{mValue=36.5, mType=0, mName=cpu0, mStatus=0}
	Temperature{mValue=31.2, mType=2, mName=battery, mStatus=0}
EOF
;;
*) echo "Can't find service: $1" >&2; exit 1;;
esac
"""

_GETPROP = r"""#!/bin/sh
# canned getprop (edgebert adb protocol test server; not Android)
props="$(dirname "$0")/../../props"
if [ $# -eq 0 ]; then sed 's/^\([^=]*\)=\(.*\)$/[\1]: [\2]/' "$props"; exit 0; fi
sed -n "s/^$1=//p" "$props" | head -n 1
"""


_AM = r"""#!/bin/sh
# canned am (edgebert adb protocol test server; not Android): records the call, starts nothing
root="$(dirname "$0")/../.."
echo "$*" >> "$root/am.log"
# like the real am, a failure is a line on stdout with exit status 0
if [ -f "$root/am_error" ]; then echo "Error: $(cat "$root/am_error")"; exit 0; fi
[ "$1" = start ] || exit 0
act= dat=
while [ $# -ge 2 ]; do case "$1" in -a) act=$2;; -d) dat=$2;; esac; shift; done
echo "Starting: Intent { act=$act dat=$dat }"
"""


def _protocol_string(text: str) -> bytes:
    """adb's length-prefixed string: 4 lowercase hex digits, then the bytes."""
    raw = text.encode()
    return b"%04x" % len(raw) + raw


def _failure(message: str) -> bytes:
    return b"FAIL" + _protocol_string(message)


class _Stream:
    """One adb stream: the device's id, the client's id, and flow control for our writes."""

    def __init__(self, conn: "_Connection", local: int, remote: int):
        self.conn, self.local, self.remote = conn, local, remote
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.can_write = threading.Event()
        self.can_write.set()
        self.closed = threading.Event()
        self.buf = b""
        self.proc: subprocess.Popen | None = None

    def write(self, data: bytes) -> None:
        """Send in payload-sized WRTEs, each after the client OKAYed the previous one."""
        for i in range(0, len(data), self.conn.max_payload):
            while not self.can_write.wait(0.2):
                if self.closed.is_set():
                    raise ConnectionError("stream closed")
            self.can_write.clear()
            self.conn.send(WRTE, self.local, self.remote, data[i:i + self.conn.max_payload])

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.inbox.get()
            if chunk is None:
                raise ConnectionError("stream closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.send(CLSE, self.local, self.remote)
        self.inbox.put(None)


class _Connection:
    def __init__(self, server: "AdbdServer", sock: socket.socket):
        self.server, self.sock = server, sock
        self.lock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD
        self.name = f"host-{sock.fileno()}"  # adbd names its TCP transports host-<fd>

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        header = struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self.lock:
            try:
                self.sock.sendall(header + data)
            except OSError:
                pass

    def _recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("client went away")
            out += chunk
        return out

    def serve(self) -> None:
        try:
            while True:
                cmd, arg0, arg1, length, _crc, _magic = struct.unpack("<6I", self._recv_exact(24))
                data = self._recv_exact(length) if length else b""
                self._dispatch(cmd, arg0, arg1, data)
        except (ConnectionError, OSError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.closed.set()
                s.inbox.put(None)
                _kill(s.proc)
            self.server.drop_reverse(self)

    def _dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == CNXN:
            self.max_payload = min(arg1 or MAX_PAYLOAD, MAX_PAYLOAD)
            props = ";".join(f"{k}={PROPS[k]}" for k in ("ro.product.name", "ro.product.model", "ro.product.device"))
            self.send(CNXN, VERSION, MAX_PAYLOAD, f"device::{props};features={FEATURES}".encode())
        elif cmd == OPEN:
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            local, self.next_id = self.next_id, self.next_id + 1
            stream = _Stream(self, local, arg0)
            handler = self.server.handler_for(service)
            if handler is None:
                self.send(CLSE, 0, arg0)
                return
            self.streams[local] = stream
            self.send(OKAY, local, arg0)
            threading.Thread(target=self._run, args=(handler, stream, service), daemon=True).start()
        elif cmd == WRTE:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.inbox.put(data)
                self.send(OKAY, arg1, arg0)
        elif cmd == OKAY:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.can_write.set()
        elif cmd == CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream.closed.set()
                stream.inbox.put(None)
                _kill(stream.proc)  # adbd hangs up the shell when the client goes away

    def _run(self, handler, stream: _Stream, service: str) -> None:
        try:
            handler(stream, service)
        except (ConnectionError, OSError):
            pass
        finally:
            stream.close()
            self.streams.pop(stream.local, None)


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class AdbdServer:
    """``start()`` listens on 127.0.0.1; ``serial`` is what ``adb connect`` takes; ``kill()`` drops
    every connection at once, the way a phone unplugged mid-run looks to the host."""

    def __init__(self, root: Path, props: dict | None = None):
        self.root = Path(root)
        self.props = {**PROPS, **(props or {})}
        self._listener: socket.socket | None = None
        self._conns: list[_Connection] = []
        self._lock = threading.Lock()
        self._reverse: dict[str, tuple[str, _Connection]] = {}  # device-side local -> (host-side remote, transport)
        self.reverse_requests: list[str] = []  # every reverse: request, in order (without "reverse:")
        self._make_device()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _make_device(self) -> None:
        """A device filesystem: /data/local/tmp, canned getprop/dumpsys, a 2-core cpufreq tree."""
        (self.root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
        bin_dir = self.root / "system/bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, text in (("getprop", _GETPROP), ("dumpsys", _DUMPSYS), ("am", _AM)):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        (self.root / "props").write_text("".join(f"{k}={v}\n" for k, v in self.props.items()))
        for cpu, khz in ((0, 1800000), (1, 2400000)):  # cpu1 is the "big" core
            d = self.root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
            d.mkdir(parents=True, exist_ok=True)
            (d / "cpuinfo_max_freq").write_text(f"{khz}\n")

    def start(self) -> "AdbdServer":
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._listener is None:
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock)
            self._conns.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def kill(self) -> None:
        """Vanish: stop listening, drop every connection and kill running commands."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # close() alone does not wake a blocked accept()
            except OSError:
                pass
            listener.close()
        for conn in self._conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()
            for s in list(conn.streams.values()):
                _kill(s.proc)

    stop = kill

    @property
    def reverse_forwards(self) -> dict[str, str]:
        """The active ``adb reverse`` forwards, device side -> host side (``{"tcp:P": "tcp:P"}``)."""
        with self._lock:
            return {local: remote for local, (remote, _conn) in self._reverse.items()}

    @property
    def am_calls(self) -> list[str]:
        """The argument lines ``am`` was run with, in order."""
        log = self.root / "am.log"
        return log.read_text().splitlines() if log.exists() else []

    def drop_reverse(self, conn: _Connection) -> None:
        """A transport that goes away takes its reverse forwards with it, as in adbd."""
        with self._lock:
            self._reverse = {k: v for k, v in self._reverse.items() if v[1] is not conn}

    # ---- services
    def handler_for(self, service: str):
        if service.startswith("shell"):
            return self._shell
        if service == "sync:":
            return self._sync
        if service.startswith("reverse:"):
            return self._reverse_service
        return None

    def _reverse_service(self, stream: _Stream, service: str) -> None:
        """adbd's ``reverse:`` service (daemon/services.cpp reverse_service, which calls
        adb.cpp handle_forward_request): the stream is OPEN'd and OKAY'd, then one reply and CLSE.
        On the device a success is a single ``OKAY`` (the host adb server sends the client the
        other, "connect" one), an error ``FAIL`` + message, and ``list-forward`` only the listing.
        Only the state is kept: a real adbd would also listen on the local spec and resolve tcp:0."""
        request = service.removeprefix("reverse:")
        with self._lock:
            self.reverse_requests.append(request)
            reply = self._forward_request(request, stream.conn)
        stream.write(reply)

    def _forward_request(self, request: str, conn: _Connection) -> bytes:
        if request == "list-forward":
            return _protocol_string("".join(f"{c.name} {local} {remote}\n"
                                            for local, (remote, c) in self._reverse.items()))
        if request == "killforward-all":
            self._reverse.clear()
            return b"OKAY"
        if request.startswith("killforward:"):
            local = request.removeprefix("killforward:")
            if not local or ";" in local:
                return _failure(f"bad killforward: {local}")
            if self._reverse.pop(local, None) is None:
                return _failure(f"listener '{local}' not found")
            return b"OKAY"
        if request.startswith("forward:"):
            spec = request.removeprefix("forward:")
            no_rebind = spec.startswith("norebind:")
            spec = spec.removeprefix("norebind:")
            pieces = spec.split(";")
            if len(pieces) != 2 or not all(pieces) or pieces[1].startswith("*"):
                return _failure(f"bad forward: {spec}")
            local, remote = pieces
            if no_rebind and local in self._reverse:
                return _failure("cannot rebind existing socket")
            self._reverse[local] = (remote, conn)
            return b"OKAY"
        return _failure("not a reverse forwarding command")

    def host_path(self, device_path: str) -> Path:
        return self.root / device_path.lstrip("/")

    def rewrite(self, command: str) -> str:
        for prefix in MAPPED:
            command = command.replace(prefix, str(self.root) + prefix)
        return command

    def _shell(self, stream: _Stream, service: str) -> None:
        head, _, command = service.partition(":")
        v2 = "v2" in head.split(",")
        env = {**os.environ, "PATH": f"{self.root / 'system/bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        argv = ["sh", "-c", self.rewrite(command)] if command else ["sh"]
        proc = subprocess.Popen(argv, cwd=self.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE if v2 else subprocess.STDOUT, start_new_session=True)
        stream.proc = proc
        lock = threading.Lock()

        def pump(pipe, ident: int) -> None:
            for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
                with lock:
                    stream.write(struct.pack("<BI", ident, len(chunk)) + chunk if v2 else chunk)

        def feed() -> None:  # stdin: v2 packets, or raw bytes for the v1 shell
            try:
                while True:
                    if v2:
                        ident, n = struct.unpack("<BI", stream.read_exact(5))
                        data = stream.read_exact(n)
                        if ident == SHELL_CLOSE_STDIN:
                            break
                        if ident != SHELL_STDIN:
                            continue
                    else:
                        data = stream.read_exact(1)
                    proc.stdin.write(data)
                    proc.stdin.flush()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        threading.Thread(target=feed, daemon=True).start()
        pumps = [threading.Thread(target=pump, args=(proc.stdout, SHELL_STDOUT), daemon=True)]
        if v2:
            pumps.append(threading.Thread(target=pump, args=(proc.stderr, SHELL_STDERR), daemon=True))
        for t in pumps:
            t.start()
        for t in pumps:
            t.join()
        code = proc.wait()
        if v2 and not stream.closed.is_set():
            stream.write(struct.pack("<BIB", SHELL_EXIT, 1, code & 0xFF if code >= 0 else 128 - code))

    def _sync(self, stream: _Stream, _service: str) -> None:
        while True:
            ident, n = struct.unpack("<4sI", stream.read_exact(8))
            if ident == b"QUIT":
                return
            path = stream.read_exact(n).decode("utf-8", "replace")
            if ident == b"STAT":
                stream.write(b"STAT" + self._stat(path))
            elif ident == b"LIST":
                self._list(stream, path)
            elif ident == b"SEND":
                self._recv_file(stream, path)
            elif ident == b"RECV":
                self._send_file(stream, path)
            else:
                self._fail(stream, f"unknown sync request {ident!r}")
                return

    def _stat(self, path: str) -> bytes:
        try:
            st = os.stat(self.host_path(path))
        except OSError:
            return struct.pack("<3I", 0, 0, 0)
        return struct.pack("<3I", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime))

    def _list(self, stream: _Stream, path: str) -> None:
        host = self.host_path(path)
        for name in [".", ".."] + (sorted(os.listdir(host)) if host.is_dir() else []):
            st = os.stat(host / name) if (host / name).exists() else None
            mode, size, mtime = (st.st_mode, st.st_size, int(st.st_mtime)) if st else (0, 0, 0)
            raw = name.encode()
            stream.write(b"DENT" + struct.pack("<4I", mode, size & 0xFFFFFFFF, mtime, len(raw)) + raw)
        stream.write(b"DONE" + struct.pack("<4I", 0, 0, 0, 0))

    @staticmethod
    def _fail(stream: _Stream, msg: str) -> None:
        stream.write(b"FAIL" + struct.pack("<I", len(msg.encode())) + msg.encode())

    def _recv_file(self, stream: _Stream, spec: str) -> None:
        path, _, mode = spec.rpartition(",")
        host = self.host_path(path)
        data, error = [], None
        while True:
            ident, n = struct.unpack("<4sI", stream.read_exact(8))
            if ident == b"DATA":
                data.append(stream.read_exact(n))
            elif ident == b"DONE":
                break
            else:
                error = f"unexpected {ident!r} in SEND"
                break
        if error is None:
            try:
                host.parent.mkdir(parents=True, exist_ok=True)
                host.write_bytes(b"".join(data))
                host.chmod(stat.S_IMODE(int(mode or "644")) or 0o644)
            except (OSError, ValueError) as exc:
                error = f"{path}: {exc}"
        if error:
            self._fail(stream, error)
        else:
            stream.write(b"OKAY" + struct.pack("<I", 0))

    def _send_file(self, stream: _Stream, path: str) -> None:
        try:
            data = self.host_path(path).read_bytes()
        except OSError as exc:
            self._fail(stream, f"remote object '{path}' does not exist" if isinstance(exc, FileNotFoundError)
                       else f"{path}: {exc.strerror}")
            return
        for i in range(0, len(data), 64 * 1024):
            chunk = data[i:i + 64 * 1024]
            stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        stream.write(b"DONE" + struct.pack("<I", 0))


if __name__ == "__main__":  # manual use: python adbd_server.py ROOT  → prints the serial
    import sys
    import tempfile
    import time

    srv = AdbdServer(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())).start()
    print(srv.serial, flush=True)
    print(f"adb connect {srv.serial}  # then: adb -s {srv.serial} shell {shlex.quote('echo hi')}", flush=True)
    while True:
        time.sleep(3600)
