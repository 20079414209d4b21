"""The example service's HTTP API on every SQL backend."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, get_args

import httpx
import pytest

from example_service.app.api.users import PostsInWork
from example_service.app.domain.post import Post
from example_service.app.infrastructure.repositories import PostRepository
from fastapi_building_blocks.fastapi import Work

USERS = "/api/v1/users/"
POSTS = "/api/v1/posts/"
ALICE = {"first_name": "Alice", "last_name": "Test", "email": "alice@test.com", "username": "alice"}
PROBLEM = "application/problem+json"


def person(number: int, **overrides: Any) -> dict[str, Any]:
    return {
        "first_name": f"First{number}",
        "last_name": "Zed" if number % 2 else "Young",
        "email": f"user{number:03d}@example.com",
        "username": f"user{number:03d}",
        **overrides,
    }


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(USERS, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_created_user_can_be_read_back(client: httpx.AsyncClient) -> None:
    user = await create(client, ALICE)

    assert (await client.get(f"{USERS}{user['id']}")).json() == user
    assert user["version"] == 1
    assert user["created_at"] == user["updated_at"]


async def test_list_filters_sorts_and_pages(client: httpx.AsyncClient) -> None:
    for number in range(7):
        await create(client, person(number))

    response = await client.get(
        USERS,
        params={"filter": ["last_name:eq:Zed", "username:startswith:user"], "sort": "-username",
                "page": 2, "page_size": 2},
    )  # fmt: skip

    page = response.json()
    assert [user["username"] for user in page["items"]] == ["user001"]
    assert (page["total"], page["page"], page["total_pages"]) == (3, 2, 2)


async def test_keyset_pages_walk_every_user_once(client: httpx.AsyncClient) -> None:
    for number in range(7):
        await create(client, person(number))

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "username", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{USERS}keyset", params=params)).json()
        seen += [user["username"] for user in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"user{n:03d}" for n in range(7)]


async def test_update_with_the_current_version_changes_the_user(client: httpx.AsyncClient) -> None:
    user = await create(client, ALICE)

    response = await client.patch(f"{USERS}{user['id']}", json={"version": 1, "last_name": "New"})

    assert response.status_code == 200
    assert (response.json()["last_name"], response.json()["version"]) == ("New", 2)


async def test_a_patched_email_follows_the_domain_rule(client: httpx.AsyncClient) -> None:
    user = await create(client, ALICE)

    response = await client.patch(
        f"{USERS}{user['id']}", json={"version": 1, "email": "Alice@NEW.test"}
    )

    assert response.json()["email"] == "alice@new.test"
    assert response.json()["first_name"] == "Alice"


async def test_a_patch_of_a_missing_user_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{USERS}{uuid.uuid4()}", json={"version": 1, "last_name": "X"})

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_update_with_a_stale_version_is_a_409_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    user = await create(client, ALICE)
    await client.patch(f"{USERS}{user['id']}", json={"version": 1, "last_name": "First"})

    stale = await client.patch(f"{USERS}{user['id']}", json={"version": 1, "last_name": "Lost"})

    assert stale.status_code == 409
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["error"] == "ConcurrencyError"
    assert (await client.get(f"{USERS}{user['id']}")).json()["last_name"] == "First"


async def test_delete_removes_the_user(client: httpx.AsyncClient) -> None:
    user = await create(client, ALICE)

    assert (await client.delete(f"{USERS}{user['id']}")).status_code == 204
    assert (await client.get(f"{USERS}{user['id']}")).status_code == 404
    assert (await client.delete(f"{USERS}{user['id']}")).status_code == 404


async def test_a_duplicate_email_is_a_409_naming_the_field(client: httpx.AsyncClient) -> None:
    await create(client, ALICE)

    duplicate = await client.post(
        USERS, json={**ALICE, "username": "other", "email": "ALICE@test.com"}
    )

    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    assert duplicate.json()["fields"] == ["email"]
    assert (await client.get(USERS)).json()["total"] == 1


async def test_an_unknown_user_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{USERS}{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "body",
    [
        {**ALICE, "email": "not-an-email"},
        {**ALICE, "surprise": "field"},
        {"first_name": "Only"},
        {**ALICE, "username": "x" * 51},
    ],
)
async def test_an_invalid_body_is_a_422_problem(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post(USERS, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]


async def test_a_filter_not_shaped_field_op_value_fails_validation_as_the_schema_says(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(USERS, params={"filter": "email-without-operator"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["query", "filter"]


@pytest.mark.parametrize(
    "params",
    [
        {"filter": "password:eq:x"},  # not on the allow-list
        {"filter": "email:regex:.*"},
        {"filter": "is_active:eq:perhaps"},
        {"sort": "version"},
        {"filter": "created_at:gt:yesterday"},
    ],
)
async def test_a_bad_query_is_a_400_problem(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(USERS, params=params)

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


async def test_a_forged_cursor_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{USERS}keyset", params={"cursor": "bm90IGEgY3Vyc29y"})

    assert response.status_code == 400


async def test_a_malformed_id_names_no_resource_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{USERS}not-a-uuid")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_patch_on_the_keyset_path_is_a_405_naming_what_it_allows(
    client: httpx.AsyncClient,
) -> None:
    response = await client.patch(f"{USERS}keyset", json={"version": 1})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_405_on_a_key_path_names_every_method_the_path_has(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(f"{USERS}{uuid.uuid4()}")

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"


async def test_registering_with_a_welcome_post_creates_both(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{USERS}with-welcome-post", json=ALICE)

    assert response.status_code == 201
    created = response.json()
    posts = (
        await client.get(POSTS, params={"filter": f"author_id:eq:{created['user']['id']}"})
    ).json()
    assert [post["title"] for post in posts["items"]] == ["Welcome, Alice!"]


async def test_a_failing_welcome_post_leaves_no_user_behind(client: httpx.AsyncClient) -> None:
    class OrphanPosts(PostRepository):
        """Points the post at a user that does not exist: the database refuses it."""

        async def create(self, entity: Post) -> Post:
            return await super().create(replace(entity, author_id=uuid.uuid4()))

    def orphan_posts(uow: Work) -> OrphanPosts:
        return OrphanPosts(uow)

    overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[get_args(PostsInWork)[1].dependency] = orphan_posts

    response = await client.post(f"{USERS}with-welcome-post", json=ALICE)

    assert response.status_code == 409
    assert response.json()["error"] == "ForeignKeyViolationError"
    assert (await client.get(USERS)).json()["total"] == 0


async def test_search_by_name_ignores_case(client: httpx.AsyncClient) -> None:
    await create(client, person(1, first_name="Marguerite"))
    await create(client, person(2, last_name="Margolis"))
    await create(client, person(3))

    found = (await client.get(f"{USERS}search/by-name", params={"q": "MARG"})).json()

    assert [user["username"] for user in found] == ["user001", "user002"]


async def test_search_by_name_returns_the_first_page_of_all_matches_in_username_order(
    client: httpx.AsyncClient,
) -> None:
    # 50 matches, 25 by first name (odd numbers) and 25 by last name (even), created in
    # the reverse of username order. Two lists of 20 in key order, merged in Python,
    # returned the wrong first 20.
    for number in reversed(range(50)):
        field = "first_name" if number % 2 else "last_name"
        await create(client, person(number, **{field: f"Ann{number}"}))
    await create(client, person(99, first_name="Zed", last_name="Zed"))

    found = (await client.get(f"{USERS}search/by-name", params={"q": "ann"})).json()

    assert [user["username"] for user in found] == [f"user{n:03d}" for n in range(20)]


async def test_a_filter_group_over_http_is_an_or(client: httpx.AsyncClient) -> None:
    for number in range(4):
        await create(client, person(number))

    page = (
        await client.get(USERS, params={"filter": "any(username:eq:user000|username:eq:user003)"})
    ).json()

    assert [user["username"] for user in page["items"]] == ["user000", "user003"]


async def test_readiness_pings_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.json()["status"] == "ok"
    assert ready.json()["databases"]["default"]["status"] == "ok"
    assert ready.json()["databases"]["default"]["latency_ms"] >= 0


async def test_a_query_of_the_services_own_counts_posts_per_author(
    client: httpx.AsyncClient,
) -> None:
    alice = await create(client, ALICE)
    await client.post(f"{USERS}with-welcome-post", json=person(1))
    await client.post(POSTS, json={"author_id": alice["id"], "title": "draft"})
    await client.post(POSTS, json={"author_id": alice["id"], "title": "out", "published": True})

    counts = (await client.get(f"{POSTS}counts-by-author")).json()
    published = (await client.get(f"{POSTS}counts-by-author?published_only=true")).json()

    assert counts[alice["id"]] == 2
    assert len(counts) == 2
    assert published[alice["id"]] == 1


async def test_the_longest_post_the_api_takes_is_stored_whole_on_every_backend(
    client: httpx.AsyncClient,
) -> None:
    """20,000 characters of four bytes each: 80,000 bytes, beyond MySQL's TEXT."""
    alice = await create(client, ALICE)
    content = "\N{GRINNING FACE}" * 20_000

    created = await client.post(
        POSTS, json={"author_id": alice["id"], "title": "t", "content": content}
    )
    read = await client.get(f"{POSTS}{created.json()['id']}")

    assert created.status_code == 201, created.text
    assert read.json()["content"] == content
