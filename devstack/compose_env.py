"""``python -m devstack.compose_env``: fresh credentials for docker-compose's ``.env``.

The same set ``make dev`` writes to ``.data/dev.env`` (the app's keys, the sandboxes' matching
ones, SendGrid's event-signing key pair) plus the Compose-only Postgres password. Printed,
never written anywhere by this module: ``.venv/bin/python -m devstack.compose_env >> .env``.
"""

from __future__ import annotations

import secrets

from devstack.stack import new_secrets


def main() -> None:
    values = {"TEMPWORK_POSTGRES_PASSWORD": secrets.token_urlsafe(24), **new_secrets()}
    for name, value in values.items():
        print(f"{name}={value}")


if __name__ == "__main__":
    main()
