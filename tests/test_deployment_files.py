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
