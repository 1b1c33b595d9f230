"""Shared fixtures: synthetic teachers, datasets written by the real TypeScript writer, the real
``logit-cache serve``, and static Range-capable servers (a small one here, nginx when installed).

Tests that need node and a built checkout skip, printing why, when they are absent.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from logit_cache.manifest import load_manifest
from logit_cache.testing import REPO_ROOT, samples_from_logits, write_dataset, writer_unavailable

SHARED = Path(os.environ.get("LOGIT_CACHE_SHARED", REPO_ROOT.parent / "shared"))
STORIES = SHARED / "teachers" / "stories260k"
CLI = REPO_ROOT / "dist" / "cli" / "logit-cache.js"


def make_teacher(n: int = 10, vocab: int = 64, seed: int = 0, min_len: int = 1, max_len: int = 12, scale: float = 3.0):
    """Random sequences and full "teacher" logits for them (float32), variable lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    ids = [rng.integers(0, vocab, size=int(L)).tolist() for L in lengths]
    logits = [(rng.standard_normal((int(L), vocab)) * scale).astype(np.float32) for L in lengths]
    return ids, logits


def flip_byte(path: Path, offset: int, mask: int = 0x5A) -> None:
    """XOR one byte of a file in place (flipping twice restores it)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def edit_manifest(dataset: Path, fn) -> None:
    """Apply ``fn`` to the dataset's manifest dict and write it back."""
    raw = json.loads((dataset / "manifest.json").read_text())
    fn(raw)
    (dataset / "manifest.json").write_text(json.dumps(raw))


def rewrite_index(dataset: Path, s: int, mutate) -> None:
    """Give shard ``s`` an index whose checksum in the manifest is right but whose content is
    ``mutate(columns, metadata)``'s (lists by column name; metadata dict of bytes), so only the
    checks made after the hash can refuse it."""
    m = load_manifest(dataset)
    path = dataset / m.shards[s].index.file
    rb = ipc.open_file(str(path)).get_batch(0)
    cols = {name: rb.column(name).to_pylist() for name in rb.schema.names}
    meta = dict(rb.schema.metadata)
    mutate(cols, meta)
    schema = rb.schema.with_metadata(meta)
    new = pa.record_batch([pa.array(cols[f.name], f.type) for f in schema], schema=schema)
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema) as w:
        w.write_batch(new)
    data = sink.getvalue().to_pybytes()
    path.write_bytes(data)
    edit_manifest(dataset, lambda raw: raw["shards"][s]["index"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))


def assert_same_batches(a, b) -> None:
    """Two ``batch()`` dicts hold equal tensors under the same keys."""
    import torch

    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def need_writer() -> None:
    why = writer_unavailable()
    if why:
        print(f"SKIP: {why}")
        pytest.skip(why)


@pytest.fixture
def teacher():
    return make_teacher()


def small_dataset(tmp_path: Path, teacher, shard_format: str = "arrow") -> Path:
    need_writer()
    ids, logits = teacher
    return write_dataset(tmp_path / "root", "ds", samples_from_logits(ids, logits, 8), k=8, batch_size=3,
                         batches_per_shard=2, vocab_size=64, shard_format=shard_format)


@pytest.fixture
def dataset(tmp_path, teacher):
    """A 10-sample k=8 f32 dataset by the real writer: batch size 3 (last batch short), 2 batches per shard."""
    return small_dataset(tmp_path, teacher)


@pytest.fixture
def parquet_dataset(tmp_path, teacher):
    """The same dataset with Parquet shards (format 2.2, ``--shard-format parquet``)."""
    return small_dataset(tmp_path, teacher, "parquet")


@pytest.fixture(params=["arrow", "parquet"])
def any_dataset(request, tmp_path, teacher):
    """The same dataset in each shard format: for tests whose checks hold for both."""
    return small_dataset(tmp_path, teacher, request.param)


class LogitCacheServer:
    """``node dist/cli/logit-cache.js serve`` on a free port, as a user runs it."""

    def __init__(self, root: Path, token: Optional[str] = None) -> None:
        env = dict(os.environ)
        env.pop("LOGIT_CACHE_TOKEN", None)
        if token:
            env["LOGIT_CACHE_TOKEN"] = token
        self.proc = subprocess.Popen(["node", str(CLI), "serve", "--root", str(root), "--port", "0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.log: List[str] = []
        for line in self.proc.stderr:  # the command logs its URL on stderr
            self.log.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        else:
            raise RuntimeError(f"logit-cache serve did not start: {''.join(self.log)}")
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def serve_root():
    """``serve_root(folder, token=None)`` → the real server over ``folder``; stopped after the test."""
    need_writer()
    if not CLI.is_file():
        pytest.skip(f"{CLI} is missing; run `npm run build`")
    servers: List[LogitCacheServer] = []

    def start(root: Path, token: Optional[str] = None) -> LogitCacheServer:
        srv = LogitCacheServer(root, token)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


class _StaticHandler(BaseHTTPRequestHandler):
    """Static files with single-range support (what nginx does for these requests)."""

    server: "StaticServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers=()) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_whole(self, data: bytes) -> None:
        """200 with the whole file in chunks, counting what the client took before hanging up."""
        srv = self.server
        self.send_response(200)
        for k, v in srv.headers_for.get(self.path, ()):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        srv.whole_sent = 0
        try:
            for i in range(0, len(data), 1 << 16):
                self.wfile.write(data[i : i + (1 << 16)])
                srv.whole_sent = i + len(data[i : i + (1 << 16)])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        srv.whole_done.set()

    def do_GET(self):  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        if srv.token and self.headers.get("Authorization") != f"Bearer {srv.token}":
            return self._send(401, b"unauthorized")
        if srv.fail_next:  # what a proxy in front of the files answers while overloaded
            return self._send(srv.fail_next.pop(0), b"busy")
        path = (srv.root / self.path.lstrip("/")).resolve()
        if not path.is_file() or srv.root.resolve() not in path.parents:
            return self._send(404, b"not found")
        data = path.read_bytes()
        m = _RANGE.match(self.headers.get("Range") or "")
        if not m or srv.ignore_range:
            return self._send_whole(data)
        a, b = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
        if a >= len(data):
            return self._send(416, b"", [("Content-Range", f"bytes */{len(data)}")])
        return self._send(206, data[a : b + 1], [("Content-Range", f"bytes {a}-{b}/{len(data)}")])


class StaticServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, token: Optional[str] = None) -> None:
        super().__init__(("127.0.0.1", 0), _StaticHandler)
        self.root = Path(root)
        self.token = token
        self.ignore_range = False
        self.fail_next: List[int] = []  # statuses answered before real responses
        self.whole_sent = 0  # bytes of the last whole-file answer the client accepted
        self.whole_done = threading.Event()
        self.requests: List[tuple] = []
        self.headers_for: dict = {}  # path -> extra (name, value) headers of its whole-file answers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def static_server():
    """``static_server(folder, token=None)`` → a running Range-capable static file server."""
    servers: List[StaticServer] = []

    def start(root: Path, token: Optional[str] = None) -> StaticServer:
        srv = StaticServer(root, token)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(tmp_path):
    """``nginx(folder)`` → URL of a real nginx serving ``folder`` statically (skips when not installed)."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if exe is None:
        print("SKIP: nginx is not installed")
        pytest.skip("nginx is not installed")
    procs = []

    def start(root: Path) -> str:
        port = _free_port()
        prefix = tmp_path / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        # As root, workers would drop to nobody and not see pytest's private tmp folders.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(
            user + "daemon off; worker_processes 1; pid nginx.pid; error_log logs/error.log;\n"
            "events { worker_connections 64; }\n"
            "http { access_log off; client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;\n"
            "  uwsgi_temp_path tmp; scgi_temp_path tmp;\n"
            f"  server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
        )
        proc = subprocess.Popen([exe, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if proc.poll() is not None:
                    pytest.skip(f"nginx did not start: {proc.stderr.read().decode()[-500:]}")
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)
