"""The compose file's production shape, read as compose reads it (YAML with merge keys;
`docker compose config` is not on every machine): web and worker share one var directory,
Redis keeps its data and never evicts rq's keys, the worker has a healthcheck that exists,
and the commented object store becomes a valid file with the settings it needs."""

from __future__ import annotations

import re
from typing import Any

import yaml

from bot.app.cli import build_parser
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def _var_dir() -> str:
    found = re.search(r"TAWASUL_VAR_DIR=(\S+)", (ROOT / "Dockerfile").read_text())
    assert found, "the Dockerfile sets TAWASUL_VAR_DIR"
    return found.group(1)


def load(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def test_web_and_worker_share_the_var_directory_in_a_named_volume() -> None:
    compose = load(COMPOSE.read_text())
    services = compose["services"]
    mount = f"var:{_var_dir()}"
    for name in ("web", "worker", "migrate"):
        assert mount in services[name]["volumes"], name
    assert "var" in compose["volumes"]


def test_redis_keeps_its_data_and_never_evicts_queues() -> None:
    redis = load(COMPOSE.read_text())["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_the_worker_healthcheck_is_a_command_that_exists() -> None:
    worker = load(COMPOSE.read_text())["services"]["worker"]
    test = worker["healthcheck"]["test"]
    assert test[:2] == ["CMD", "tawasul"]
    parsed = build_parser().parse_args(test[2:])
    assert parsed.command == "worker" and parsed.check


def test_the_commented_object_store_is_a_valid_compose_file_once_uncommented() -> None:
    lines = []
    in_minio = False
    for line in COMPOSE.read_text().splitlines():
        if re.match(r"    # (TAWASUL_(MEDIA_STORE|S3_)|AWS_)", line):
            line = line.replace("# ", "", 1)
        elif line.startswith("  # minio:"):
            in_minio, line = True, line.replace("# ", "", 1)
        elif in_minio and line.startswith("  #   "):
            line = line.replace("# ", "", 1)
        else:
            in_minio = False
        lines.append(line)
    compose = load("\n".join(lines))
    environment = compose["x-tawasul"]["environment"]
    assert environment["TAWASUL_MEDIA_STORE"] == "s3"
    assert environment["TAWASUL_S3_ENDPOINT_URL"] == "http://minio:9000"
    for name in ("TAWASUL_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert environment[name], name
    assert compose["services"]["worker"]["environment"]["TAWASUL_MEDIA_STORE"] == "s3"
    minio = compose["services"]["minio"]
    assert minio["image"].startswith("minio/") and "minio" in compose["volumes"]
    assert "ports" not in minio  # the bucket is reached by the gateway only
