"""``make dev``: the whole marketplace locally, offline, no Docker. Ctrl-C stops everything.

First run writes ``.data/dev.env`` with freshly generated secrets (and the sandbox address), so
the API, the worker and the ``ops`` CLI all agree; data persists in ``.data/`` between runs.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from core.settings import DEV_ENV_FILE, Settings
from devstack.stack import DEV_TWILIO_FROM_NUMBER, ROOT, Ports, Stack, new_secrets


def _load_or_create_dev_env(sandbox_port: int) -> dict[str, str]:
    """Reads .data/dev.env, writing fresh secrets (and the sandbox addresses, so the `ops`
    CLI reaches the same sandboxes) for whatever it does not have yet — a checkout that
    gains a provider keeps its old secrets and gets the new ones."""
    path = ROOT / DEV_ENV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, str] = {}
    if path.exists():
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        current = {k.strip(): v.strip() for k, v in pairs if k.strip().startswith("TEMPWORK_")}
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    wanted = new_secrets() | {
        "TEMPWORK_STRIPE_API_BASE": f"{sandbox}/stripe",
        "TEMPWORK_SENDGRID_API_BASE": f"{sandbox}/sendgrid",
        "TEMPWORK_TWILIO_API_BASE": f"{sandbox}/twilio",
        "TEMPWORK_CHECKS_API_BASE": f"{sandbox}/checks",
        "TEMPWORK_TWILIO_FROM_NUMBER": DEV_TWILIO_FROM_NUMBER,
        "TEMPWORK_SENDGRID_ACTIVITY_FEED_LAG": "PT0S",
    }
    missing = {k: v for k, v in wanted.items() if k not in current}
    # The SendGrid pair is one key: never keep half of an old pair with half of a new one.
    pair = ("TEMPWORK_SANDBOX_SENDGRID_SIGNING_KEY", "TEMPWORK_SENDGRID_WEBHOOK_PUBLIC_KEY")
    if any(k in missing for k in pair):
        missing.update({k: wanted[k] for k in pair})
    if missing:
        current.update(missing)
        path.write_text("".join(f"{k}={v}\n" for k, v in current.items()))
        path.chmod(0o600)
        print(f"wrote fresh local secrets to {DEV_ENV_FILE}: {', '.join(sorted(missing))}")
    return current


def main() -> int:
    values = _load_or_create_dev_env(Settings.model_fields["dev_sandbox_port"].default)
    secrets = {k: v for k, v in values.items() if k in new_secrets()}
    settings = Settings(_env_file=ROOT / DEV_ENV_FILE)
    stack = Stack(
        data_dir=ROOT / settings.data_dir,
        ports=Ports(
            postgres=settings.dev_postgres_port,
            temporal=settings.dev_temporal_port,
            temporal_ui=settings.dev_temporal_ui_port,
            sandbox=settings.dev_sandbox_port,
            api=settings.dev_api_port,
            worker_health=settings.dev_worker_health_port,
        ),
        secrets=secrets,
        # Text logs: people read .data/logs/*.log with `tail`; containers keep JSON lines.
        extra_env={"TEMPWORK_LOG_FORMAT": "text"},
    )
    stack.check_ports_free()
    print("starting PostgreSQL, Temporal, the sandboxes, the worker and the API …", flush=True)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    try:
        stack.start()
        stack.create_schedules()
        print(
            f"""
Tempwork is running ({time.monotonic() - started:.1f}s to start). Ctrl-C stops everything.

  API            {stack.api_url}          (interactive docs: {stack.api_url}/docs)
  Temporal UI    {stack.temporal_ui_url}   (search e.g. ContractId="…")
  Temporal gRPC  {stack.temporal_address}
  Worker         {stack.worker_health_url}/health/ready   (Prometheus text: /metrics —
                 Temporal SDK metrics and business figures)
  Sandboxes      {stack.sandbox_url}      (/stripe /twilio /sendgrid /checks; what was
                 "sent" by email or SMS, codes included: {stack.sandbox_url}/_sandbox/outbox?to=…)
  PostgreSQL     {stack.database_url}
  Logs           {Path(settings.data_dir) / "logs"}/

Create a support user:  .venv/bin/ops create-user --email support@example.com --role support
""",
            flush=True,
        )
        while not stopping:
            dead = stack.dead()
            if dead:
                for process in dead:
                    print(
                        f"\n{process.name} stopped unexpectedly.\n{process.tail()}", file=sys.stderr
                    )
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("\nstopping …", flush=True)
        stack.stop()
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
