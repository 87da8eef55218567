"""The deployment files (deploy/, issue 22): the compose file, the image, the Caddyfile and the
systemd units hold their invariants, and the real tools accept them where they exist here.

Always checked (structure): non-root image with `spibot` as entry point and no migration at start,
every compose service configured by `.env`, web x 2 and worker x 2 after a one-shot migrate, one
scheduler, healthchecks, the commands in the files being real `spibot` commands, hardened units.
Tool checks: `docker compose config` (or docker-compose v1 when the plugin is missing), the image
build (only with a Docker daemon), `caddy adapt --validate`, `systemd-analyze verify`; each skips
with its reason when its tool is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
SPIBOT_IMAGE_SERVICES = ("migrate", "web-1", "web-2", "worker-1", "worker-2", "scheduler")


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # merge keys (<<) resolved
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, rest), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


# --- compose: structure -------------------------------------------------------------------------


def test_every_service_is_configured_by_the_one_env_file() -> None:
    """Proves `.env` is the one configuration: every service reads it, none carries settings of
    its own in `environment`."""
    for name, svc in services().items():
        assert svc.get("env_file") == ".env", name
        assert "environment" not in svc, name


def test_web_and_workers_scale_to_two_with_one_scheduler() -> None:
    """Proves the process layout: two web servers without scheduler/worker/migration, two
    workers, exactly one scheduler, each a separate service (so each rolls alone)."""
    svcs = services()
    web = [n for n, s in svcs.items() if s.get("command", [None])[0] == "serve"]
    workers = [n for n, s in svcs.items() if s.get("command") == ["worker"]]
    schedulers = [n for n, s in svcs.items() if s.get("command") == ["scheduler"]]
    assert sorted(web) == ["web-1", "web-2"]
    assert sorted(workers) == ["worker-1", "worker-2"]
    assert schedulers == ["scheduler"]
    for name in web:
        assert {"--no-scheduler", "--no-worker", "--no-migrate"} <= set(svcs[name]["command"])
    assert {"postgres", "redis", "caddy", "migrate"} <= set(svcs)


def test_migrate_runs_once_before_web_workers_and_scheduler() -> None:
    """Proves migrations are an explicit one-shot step that everything else waits for."""
    svcs = services()
    assert svcs["migrate"]["command"] == ["db", "upgrade"]
    assert svcs["migrate"]["restart"] == "no"
    assert svcs["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SPIBOT_IMAGE_SERVICES[1:]:
        deps = svcs[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
    for name in SPIBOT_IMAGE_SERVICES:
        assert svcs[name]["image"] == "spibot:latest"
        assert svcs[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_healthchecks() -> None:
    """Proves web is checked on /readyz, the databases on their own probes, and the processes
    without an HTTP port turn the image's web check off (else they would show as unhealthy)."""
    svcs = services()
    for name in ("web-1", "web-2"):
        assert "/readyz" in " ".join(svcs[name]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(svcs["postgres"]["healthcheck"]["test"])
    assert svcs["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    for name in ("migrate", "worker-1", "worker-2", "scheduler"):
        assert svcs[name]["healthcheck"] == {"disable": True}, name
    for name in ("web-1", "web-2", "worker-1", "worker-2", "scheduler"):  # graceful shutdown room
        assert svcs[name]["stop_grace_period"] == "30s", name


def test_caddy_fronts_both_web_replicas_with_https() -> None:
    """Proves Caddy publishes 80/443, reads deploy/Caddyfile, and proxies to both web services
    by the names compose gives them."""
    caddy = services()["caddy"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    text = (DEPLOY / "Caddyfile").read_text()
    assert "{$SPIBOT_DOMAIN} {" in text
    proxy = re.search(r"reverse_proxy ([^{\n]+)", text)
    assert proxy and set(proxy.group(1).split()) == {"web-1:8000", "web-2:8000"}
    assert "health_uri /healthz" in text  # not /readyz: webhooks must reach the spool


def test_postgres_server_matches_the_images_pg_dump() -> None:
    """Proves the compose PostgreSQL is the major version of the image's pg_dump (Debian
    bookworm's postgresql-client is 15; pg_dump refuses a newer server)."""
    froms = [rest for word, rest in dockerfile() if word == "FROM"]
    assert all("bookworm" in f for f in froms)
    assert services()["postgres"]["image"].startswith("postgres:15")


def test_the_commands_in_the_deploy_files_are_real_spibot_commands() -> None:
    """Proves every `spibot ...` the compose file, the Dockerfile and the units run parses (real
    subcommand names and flags): click refuses an unknown option before it prints the help."""
    commands = [s["command"] for s in services().values() if s.get("image") == "spibot:latest"]
    commands.append(json.loads(dict(dockerfile())["CMD"]))
    for unit in UNITS.glob("*.service"):
        line = re.search(r"^ExecStart=/opt/spibot/\.venv/bin/spibot (.+)$", unit.read_text(), re.M)
        assert line, unit.name
        commands.append(line.group(1).replace("%i", "8001").split())
    runner = CliRunner()
    for cmd in commands:
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_with_spibot_as_entry_point() -> None:
    """Proves: wheels built in a first stage, a python:3.11-slim runtime, a non-root user, the
    `spibot` entry point, no migration at start, the /readyz healthcheck, secrets kept out."""
    steps = dockerfile()
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build") and froms[1].startswith("python:3.11-slim")
    assert any(word == "COPY" and "--from=build" in rest for word, rest in steps)
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert dict(steps)["ENTRYPOINT"] == '["spibot"]'
    cmd = json.loads(dict(steps)["CMD"])
    assert cmd[0] == "serve" and "--no-migrate" in cmd
    assert not any("upgrade" in rest for word, rest in steps if word in ("CMD", "ENTRYPOINT"))
    assert "/readyz" in dict(steps)["HEALTHCHECK"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "**/.env", ".git", ".venv", "var"} <= set(ignored)


# --- the real tools -----------------------------------------------------------------------------


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    v1 = shutil.which("docker-compose")
    return [v1] if v1 else None


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    """Proves Docker Compose itself accepts the file (with .env.example as the .env)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither the `docker compose` plugin nor docker-compose is installed")
    for name in ("compose.yaml", "Caddyfile"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run([*cli, "-f", str(tmp_path / "compose.yaml"), "config"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert set(resolved) == set(services())
    assert resolved["web-1"]["environment"]["SECRET_KEY"]  # .env reached the services


def _docker_daemon() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0  # type: ignore[list-item]


@pytest.mark.slow
def test_image_builds_and_runs_spibot_as_non_root() -> None:
    """Proves the image builds and its entry point is a working `spibot` run by a non-root user."""
    if not _docker_daemon():
        pytest.skip("no Docker daemon here (the docker CLI cannot reach one): the build is not tried")
    subprocess.run(["docker", "build", "-f", str(DEPLOY / "Dockerfile"), "-t", "spibot:test", str(ROOT)],
                   check=True, timeout=1800)
    out = subprocess.run(["docker", "run", "--rm", "spibot:test", "--help"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "scheduler" in out and "backup" in out
    uid = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", "spibot:test", "-u"],
                         capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    assert uid != "0"


def test_caddyfile_validates() -> None:
    """Proves Caddy itself parses the Caddyfile (as compose runs it, with SPIBOT_DOMAIN set)."""
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed here")
    result = subprocess.run([caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--validate"],
                            env={**os.environ, "SPIBOT_DOMAIN": "spi.example.go.id"},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "spi.example.go.id" in result.stdout


# --- systemd ------------------------------------------------------------------------------------


def _verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, paths)],
                          capture_output=True, text=True, check=False)


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Proves systemd accepts every unit without a warning. ExecStart points at an executable
    that exists here (the real path, /opt/spibot/.venv/bin/spibot, exists only on the VM). A
    unit with a mistake must fail the same check, so the check can fail."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    copies = []
    for unit in sorted(UNITS.iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/spibot/.venv/bin/spibot", sys.executable))
        copies.append(copy)
    result = _verify(copies)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr
    bad = tmp_path / "bad.service"  # the control: the same check notices a wrong value
    bad.write_text(copies[0].read_text().replace("ProtectSystem=strict", "ProtectSystem=sideways"))
    control = _verify([bad])
    assert "sideways" in control.stdout + control.stderr


def _directives(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_systemd_units_are_hardened_and_share_the_env_file() -> None:
    """Proves each service runs as `spibot`, reads /etc/spibot/spibot.env, and is sandboxed with
    writes only to the data directory; the backup has its daily timer; processes stop by SIGTERM."""
    names = {u.name for u in UNITS.iterdir()}
    assert {"spibot-web@.service", "spibot-worker@.service", "spibot-scheduler.service",
            "spibot-backup.service", "spibot-backup.timer"} <= names
    for unit in UNITS.glob("*.service"):
        d = _directives(unit)
        assert d["User"] == ["spibot"] and d["EnvironmentFile"] == ["/etc/spibot/spibot.env"], unit.name
        assert d["NoNewPrivileges"] == ["yes"] and d["ProtectSystem"] == ["strict"], unit.name
        assert d["ReadWritePaths"] == ["/var/lib/spibot"], unit.name
        assert d["ExecStart"][0].startswith("/opt/spibot/.venv/bin/spibot "), unit.name
        if unit.name != "spibot-backup.service":
            assert d["KillSignal"] == ["SIGTERM"] and d["Restart"] == ["on-failure"], unit.name
    assert "--no-migrate" in _directives(UNITS / "spibot-web@.service")["ExecStart"][0]
    assert _directives(UNITS / "spibot-backup.service")["ExecStart"][0].endswith("backup --daily")
    assert _directives(UNITS / "spibot-backup.timer")["Unit"] == ["spibot-backup.service"]


def test_new_settings_are_documented_in_env_example() -> None:
    """Proves the settings the deployment adds are in .env.example (the one configuration)."""
    text = (ROOT / ".env.example").read_text()
    for key in ("SHUTDOWN_GRACE_SECONDS", "BACKUP_DIR", "BACKUP_KEEP", "BACKUP_HOUR_UTC",
                "SPIBOT_DOMAIN", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "COMPOSE_PROJECT_NAME"):
        assert re.search(rf"^#? ?{key}=", text, re.M), key
