"""Shared fixtures: synthetic teachers, datasets written in format v1, a tiny v1 HTTP server.

Reusable by later integration tests: ``make_teacher`` and ``write_dataset`` (from
``logit_cache.testing``) build datasets; ``serve_root`` serves any folder of datasets,
JS-written ones included, with the v1 routes.
"""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

from logit_cache.testing import samples_from_logits, serve_slice, write_dataset

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("LOGIT_CACHE_SHARED", REPO_ROOT.parent / "shared"))
STORIES = SHARED / "teachers" / "stories260k"


def make_teacher(n: int = 10, vocab: int = 64, seed: int = 0, min_len: int = 1, max_len: int = 12, scale: float = 3.0):
    """Random sequences and full "teacher" logits for them (float32), variable lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    ids = [rng.integers(0, vocab, size=int(L)).tolist() for L in lengths]
    logits = [(rng.standard_normal((int(L), vocab)) * scale).astype(np.float32) for L in lengths]
    return ids, logits


@pytest.fixture
def teacher():
    return make_teacher()


@pytest.fixture
def dataset(tmp_path, teacher):
    """A 10-sample k=8 f32 dataset: batch size 3 (last batch short), 2 batches per shard."""
    ids, logits = teacher
    return write_dataset(tmp_path, "ds", samples_from_logits(ids, logits, 8), k=8, batch_size=3, batches_per_shard=2, vocab_size=64)


class _Handler(BaseHTTPRequestHandler):
    server: "CacheServer"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append(self.path)
        if srv.token and self.headers.get("Authorization") != f"Bearer {srv.token}":
            return self._json(401, {"code": "LC_ERR_UNAUTHORIZED", "message": "missing or wrong bearer token"})
        if srv.failures:
            status, code = srv.failures.pop(0)
            return self._json(status, {"code": code, "message": f"injected {code}"})
        parts = self.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "datasets":
            m = srv.root / parts[1] / "manifest.json"
            if not m.is_file():
                return self._json(404, {"code": "LC_ERR_DATASET_NOT_FOUND", "message": f"no dataset {parts[1]}"})
            return self._json(200, json.loads(m.read_text()))
        if len(parts) == 3 and parts[0] == "logits":
            d = srv.root / parts[1]
            if not (d / "manifest.json").is_file():
                return self._json(404, {"code": "LC_ERR_DATASET_NOT_FOUND", "message": f"no dataset {parts[1]}"})
            try:
                body, sha = serve_slice(d, int(parts[2]))
            except (IndexError, ValueError):
                return self._json(404, {"code": "LC_ERR_BATCH_NOT_FOUND", "message": f"no batch {parts[2]}"})
            if srv.corrupt_body:
                body = bytearray(body)
                body[len(body) // 2] ^= 0xFF
                body = bytes(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apache.arrow.stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-logit-cache-batch-sha256", sha)
            self.end_headers()
            self.wfile.write(body)
            return None
        return self._json(404, {"code": "LC_ERR_NOT_FOUND", "message": self.path})


class CacheServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, token: Optional[str] = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.token = token
        self.requests: List[str] = []
        self.failures: List[tuple] = []  # (status, code) answered before real responses
        self.corrupt_body = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve_root():
    """``serve_root(folder, token=None)`` → a running CacheServer; shut down after the test."""
    servers: List[CacheServer] = []

    def start(root: Path, token: Optional[str] = None) -> CacheServer:
        srv = CacheServer(root, token)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()
