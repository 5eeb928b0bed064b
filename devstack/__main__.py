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
from devstack.stack import ROOT, Ports, Stack, new_secrets


def _load_or_create_dev_env(settings_port: int) -> dict[str, str]:
    path = ROOT / DEV_ENV_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        values = new_secrets() | {
            "TEMPWORK_STRIPE_API_BASE": f"http://127.0.0.1:{settings_port}/stripe"
        }
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
        print(f"wrote fresh local secrets to {DEV_ENV_FILE}")
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if k.strip().startswith("TEMPWORK_")}


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
        ),
        secrets=secrets,
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
  Sandboxes      {stack.sandbox_url}      (Stripe at /stripe)
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
