"""docker-compose.yml cannot run here (no Docker engine); check its shape instead."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_whole_stack():
    services = compose()["services"]
    assert {"postgres", "rabbitmq", "redis", "web", "worker", "beat"} <= set(services)
    assert "management" in services["rabbitmq"]["image"]


def test_app_services_share_one_definition_and_differ_by_command():
    services = compose()["services"]
    app = [services[name] for name in ("web", "worker", "beat")]
    assert len({s["image"] for s in app}) == 1
    assert all(s["environment"]["DATABASE_URL"].startswith("postgres://") for s in app)
    assert all(s["environment"]["CELERY_BROKER_URL"].startswith("amqp://") for s in app)
    assert "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]


def test_procfile_runs_web_worker_and_beat():
    entries = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(entries) == {"web", "worker", "beat"}
    assert "analysis" in entries["worker"]


def test_env_example_lists_every_setting_read():
    import re

    settings_source = (ROOT / "botsinais" / "settings.py").read_text()
    read = set(
        re.findall(r'env(?:_[a-z_]+|\.str|\.list)\(\s*"([A-Z_]+)"', settings_source)
    )
    example = (ROOT / ".env.example").read_text()
    assert read, "no settings found"
    missing = [name for name in read if f"{name}=" not in example]
    assert not missing


def test_make_stack_finds_the_procfile_commands_without_an_activated_virtualenv():
    """`make stack` from a fresh shell: PATH holds only the system's directories."""
    import os
    import subprocess

    fresh_shell = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
    planned = subprocess.run(
        ["make", "-n", "stack"], cwd=ROOT, env=fresh_shell, capture_output=True, text=True
    )
    assert planned.returncode == 0, planned.stderr
    launch = next(line for line in planned.stdout.splitlines() if "honcho start" in line)
    programs = {
        command.split()[0]
        for command in (
            line.split(":", 1)[1] for line in (ROOT / "Procfile").read_text().splitlines() if line
        )
    }
    assert programs == {"uvicorn", "celery"}
    # The same launch line, with honcho asked where each Procfile program resolves.
    where = f"for p in {' '.join(programs)}; do command -v $p || exit 1; done"
    lookup = launch.replace("honcho start", f"honcho run sh -c '{where}'")
    found = subprocess.run(
        ["sh", "-c", lookup], cwd=ROOT, env=fresh_shell, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stdout + found.stderr
    assert len(found.stdout.split()) == len(programs)
