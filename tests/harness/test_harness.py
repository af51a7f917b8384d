"""The shared fixtures start real, throwaway servers that the service suites rely on."""

import psycopg
import pytest
import redis
import requests
from harness import Service


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


def test_service_is_stopped_when_the_test_ends(start, tmp_path):
    (tmp_path / "index.html").write_text("served")
    service = start(Service(["python3", "-m", "http.server", "{port}"], tmp_path))
    assert requests.get(service.url + "/index.html").text == "served"
    service.stop()
    assert service.proc.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(service.url + "/index.html", timeout=2)
