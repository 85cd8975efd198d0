"""An S3 **mock** for tests: moto's server mode, a real HTTP server in its own process on
127.0.0.1, holding objects in memory. It speaks the S3 API but is not S3 (no real
S3-compatible server installs on these machines), so tests that use it say "mock".

    from moto_helpers import moto_s3_fixture, s3_credentials_fixture  # noqa: F401

    def test_x(moto_s3: MotoS3, s3_credentials: None) -> None:
        store = S3ArtifactStore(moto_s3.url("x"), endpoint_url=moto_s3.endpoint)

``moto_s3`` (one server per session) makes a bucket; ``s3_credentials`` gives boto3
dummy credentials for one test only, through ``monkeypatch``, so nothing leaks into
other tests and no ``~/.aws`` file is read.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

MOTO_SERVER = str(Path(sys.executable).parent / "moto_server")
BUCKET = "shipyard-mock"
ACCESS_KEY = "AKIDMOTOMOCKTEST"
SECRET_KEY = "moto-mock-secret-do-not-print"


def free_port() -> int:
    """A port nothing listens on (kept here so S3 tests need not import the serving tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MotoS3:
    """A moto server: its endpoint and the bucket made in it."""

    endpoint: str
    bucket: str
    proc: subprocess.Popen[bytes]

    def client(self) -> Any:
        """A boto3 client for going behind a store's back (explicit dummy credentials)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def url(self, prefix: str | None = None) -> str:
        """``s3://bucket/<prefix>``; a fresh prefix unless one is given, so tests sharing
        the bucket never see each other's objects."""
        return f"s3://{self.bucket}/{prefix or 'test-' + uuid.uuid4().hex[:12]}"

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix``."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def unfinished_uploads(self, prefix: str) -> list[str]:
        """Keys of multipart uploads under ``prefix`` that were neither completed nor aborted."""
        answer = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [upload["Key"] for upload in answer.get("Uploads", [])]


@contextlib.contextmanager
def start_moto(log: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, Any]]:
    """Run ``moto_server`` on a free loopback port until the block ends; yield its endpoint
    and process. ``env`` adds variables to its environment (e.g. to enforce auth)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {log.read_text(errors='replace')}")
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not answer within 30 s") from None
                time.sleep(0.1)
        yield endpoint, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session", name="moto_s3")
def moto_s3_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """One moto S3 mock server for the session, with ``BUCKET`` in it."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with start_moto(log) as (endpoint, proc):
        mock = MotoS3(endpoint, BUCKET, proc)
        mock.client().create_bucket(Bucket=BUCKET)
        yield mock


@pytest.fixture(name="s3_credentials")
def s3_credentials_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and region for boto3, for this test only; no AWS config file or
    endpoint from the developer's environment is read."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
