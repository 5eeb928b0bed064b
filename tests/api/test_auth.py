"""Accounts: register, log in, who am I, and what happens with bad credentials."""

from __future__ import annotations

from tests.conftest import ApiClient, problem, sign_up


async def test_register_login_and_me(http: ApiClient) -> None:
    worker = await sign_up(http, "worker", "Wes")
    me = await worker.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["id"] == worker.id and me.json()["role"] == "worker"
    assert "password" not in me.text and "password_hash" not in me.text


async def test_email_is_unique_regardless_of_case(http: ApiClient) -> None:
    person = await sign_up(http, "client")
    again = await http.post(
        "/v1/auth/register",
        json={
            "email": person.user["email"].upper(),
            "password": "another long password",
            "display_name": "Copy",
            "role": "client",
        },
    )
    problem(again, 409)


async def test_wrong_password_unknown_user_and_bad_tokens_are_401(http: ApiClient) -> None:
    person = await sign_up(http, "client")
    wrong = await http.post(
        "/v1/auth/token", data={"username": person.user["email"], "password": "nope-nope-nope"}
    )
    unknown = await http.post(
        "/v1/auth/token", data={"username": "ghost@example.com", "password": "nope-nope-nope"}
    )
    assert problem(wrong, 401)["title"] == problem(unknown, 401)["title"]  # no account enumeration
    problem(await http.get("/v1/me"), 401)
    bad = await http.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert problem(bad, 401) and bad.headers["www-authenticate"] == "Bearer"


async def test_staff_roles_cannot_be_self_registered(http: ApiClient) -> None:
    response = await http.post(
        "/v1/auth/register",
        json={
            "email": "boss@example.com",
            "password": "long enough password",
            "display_name": "B",
            "role": "admin",
        },
    )
    body = problem(response, 422)
    assert any(e["loc"][-1] == "role" for e in body["errors"])
