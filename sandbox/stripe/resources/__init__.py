"""One module per Stripe resource; each exposes a `routes` table of `/v1` endpoints."""
