"""The shared fixtures start real, throwaway servers that the service suites rely on."""

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from harness import ROOT, Service


def test_redis_fixture_starts_a_real_redis_server(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("harness", "works")
    assert client.get("harness") == b"works"
    assert client.info("server")["tcp_port"] == int(redis_url.rsplit(":", 1)[1].split("/")[0])


def test_postgres_fixture_starts_a_real_cluster(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        version = connection.execute("show server_version").fetchone()[0]
        connection.execute("create table harness (id int)")
        connection.execute("insert into harness values (1)")
        assert connection.execute("select count(*) from harness").fetchone()[0] == 1
    assert int(version.split(".")[0]) >= 13


def test_a_cluster_whose_owner_fails_before_stopping_it_is_stopped_at_exit():
    started = (
        "import sys; sys.path.insert(0, sys.argv[1]); from harness import PostgresCluster; "
        "cluster = PostgresCluster().start(); print(cluster.dir, cluster.port, flush=True); "
        "raise ImportError('a conftest that fails after starting its cluster')"
    )
    command = [sys.executable, "-c", started, str(ROOT / "tests")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "ImportError" in result.stderr
    folder, port = result.stdout.split()
    assert not Path(folder).exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_service_is_stopped_when_the_test_ends(start, tmp_path):
    (tmp_path / "index.html").write_text("served")
    service = start(Service(["python3", "-m", "http.server", "{port}"], tmp_path))
    assert requests.get(service.url + "/index.html").text == "served"
    service.stop()
    assert service.proc.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(service.url + "/index.html", timeout=2)
