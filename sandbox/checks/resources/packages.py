"""The account's packages. Checkr packages are configured per account; the sandbox account has
the common ones below. Each names the screenings a report of it contains."""

from __future__ import annotations

from ...store import JSON
from ..context import Ctx, RouteTable
from ..ids import stable_id
from ..listing import LIST_PARAMS, list_page

routes = RouteTable()

# slug: (name, price in cents, screenings as (type, subtype))
PACKAGES: dict[str, tuple[str, int, tuple[tuple[str, str | None], ...]]] = {
    "basic_plus": (
        "Basic+",
        2950,
        (
            ("ssn_trace", None),
            ("sex_offender_search", None),
            ("global_watchlist_search", None),
            ("national_criminal_search", "standard"),
        ),
    ),
    "tasker_standard": (
        "Tasker Standard",
        3500,
        (
            ("ssn_trace", None),
            ("sex_offender_search", None),
            ("global_watchlist_search", None),
            ("national_criminal_search", "standard"),
            ("county_criminal_search", "7years"),
        ),
    ),
    "tasker_pro": (
        "Tasker Pro",
        5500,
        (
            ("ssn_trace", None),
            ("sex_offender_search", None),
            ("global_watchlist_search", None),
            ("national_criminal_search", "standard"),
            ("county_criminal_search", "7years"),
            ("state_criminal_search", "7years"),
            ("federal_criminal_search", "7years"),
        ),
    ),
    "driver_standard": (
        "Driver Standard",
        2500,
        (("ssn_trace", None), ("motor_vehicle_report", None)),
    ),
    "driver_pro": (
        "Driver Pro",
        6500,
        (
            ("ssn_trace", None),
            ("county_criminal_search", "7years"),
            ("national_criminal_search", "standard"),
            ("sex_offender_search", None),
            ("global_watchlist_search", None),
            ("motor_vehicle_report", None),
        ),
    ),
}
# Fixed, so package objects look the same on every run.
_CREATED_AT = "2024-01-02T03:04:05Z"


def screenings(slug: str) -> list[str]:
    return [screening for screening, _ in PACKAGES[slug][2]]


def package(slug: str) -> JSON:
    name, price, screened = PACKAGES[slug]
    package_id = stable_id("package", slug)
    return {
        "id": package_id,
        "object": "package",
        "uri": f"/v1/packages/{package_id}",
        "apply_url": None,  # Checkr's package-wide apply links are not simulated
        "created_at": _CREATED_AT,
        "deleted_at": None,
        "name": name,
        "slug": slug,
        "price": price,
        "screenings": [{"type": kind, "subtype": subtype} for kind, subtype in screened],
    }


@routes.route("GET", "/v1/packages")
def list_packages(ctx: Ctx) -> JSON:
    ctx.params.only(*LIST_PARAMS)
    # Oldest first in the table, so the list (newest first) reads in the table's reverse.
    return list_page(ctx, "/v1/packages", [package(slug) for slug in PACKAGES], {})
