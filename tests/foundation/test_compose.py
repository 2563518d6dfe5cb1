"""docker-compose.yml is not run here (no Docker engine); keep it valid and true to docs/architecture.md."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_describes_the_scaled_out_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "gpu-worker", "dicom-listener", "postgres", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    gpu = services["gpu-worker"]
    assert "-Q gpu" in gpu["command"] and "--concurrency 1" in gpu["command"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    for name in ("web", "worker", "gpu-worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["CELERY_BROKER_URL"].startswith(
            "redis://"
        )
        assert "media:/var/lib/ichweb/media" in services[name]["volumes"]
        # A killed worker (or web server) comes back by itself; the live workers re-send what it owned.
        assert services[name]["restart"] in ("unless-stopped", "always"), f"{name} is not restarted"
    assert "gunicorn ichweb.wsgi" in services["web"]["command"]
    assert set(compose["volumes"]) >= {"media", "pgdata"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "npm run build" in dockerfile
