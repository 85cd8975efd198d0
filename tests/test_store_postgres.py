"""PostgreSQL's own store behaviour, on a real server: an unreachable server or a wrong
database named without the password, a read-only standby, a dropped connection opened
again, and writers in several processes getting gapless numbers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from postgres_helpers import PostgresServer
from shipyard.errors import StoreError
from shipyard.store import open_stores
from store_helpers import draft


def test_an_unreachable_server_names_host_and_port_but_never_the_password(tmp_path: Path) -> None:
    from postgres_helpers import _free_port

    port = _free_port()  # nothing listens there
    url = f"postgresql://shipyard:s3cret-pw@127.0.0.1:{port}/registry"
    with pytest.raises(StoreError) as err:
        open_stores(tmp_path, metadata=url)
    text = str(err.value)
    assert f"127.0.0.1:{port}/registry" in err.value.message
    assert "s3cret-pw" not in text and "s3cret-pw" not in repr(err.value.__cause__)
    assert "check that PostgreSQL is running" in (err.value.hint or "")


def test_a_missing_database_and_a_wrong_user_get_their_own_hints(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="does not exist") as err:
        open_stores(tmp_path, metadata=postgres_server.url("no_such_db"))
    assert "createdb" in (err.value.hint or "")
    url = postgres_server.url().replace("shipyard@", "nobody:pw@")
    with pytest.raises(StoreError, match="nobody") as err:
        open_stores(tmp_path, metadata=url)
    assert "user name and password" in (err.value.hint or "")
    assert ":pw@" not in str(err.value)


def test_a_read_only_database_is_a_store_error_that_says_so(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    open_stores(tmp_path, metadata=postgres_url).close()
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_server.admin() as admin:  # as a hot standby would be
        admin.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    stores = open_stores(tmp_path, metadata=postgres_url)
    with pytest.raises(StoreError, match="cannot be written") as err:
        stores.metadata.add_version("m", draft("a"))
    assert "read-only standby" in (err.value.hint or "")
    assert stores.metadata.list_models() == []
    stores.close()


def test_a_dropped_connection_is_opened_again_on_the_next_call(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    stores = open_stores(tmp_path, metadata=postgres_url)
    stores.metadata.add_version("m", draft("a"))

    def kill_backends() -> None:
        with postgres_server.admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'shipyard' AND pid <> pg_backend_pid()"
            )

    kill_backends()
    assert [m.name for m in stores.metadata.list_models()] == ["m"]  # a read
    kill_backends()
    assert stores.metadata.add_version("m", draft("b"))[0].version == 2  # a write
    stores.close()


def _register_many(url: str, home: str, worker: int, count: int) -> list[int]:
    stores = open_stores(Path(home), metadata=url)
    try:
        return [
            stores.metadata.add_version("m", draft(f"{worker}-{i}"))[0].version
            for i in range(count)
        ]
    finally:
        stores.close()


def _register_same(url: str, home: str) -> tuple[int, bool]:
    stores = open_stores(Path(home), metadata=url)
    try:
        version, created = stores.metadata.add_version("m", draft("same"))
        return version.version, created
    finally:
        stores.close()


def _open_and_count(url: str, home: str) -> int:
    stores = open_stores(Path(home), metadata=url)
    try:
        return len(stores.metadata.list_models())
    finally:
        stores.close()


def test_processes_registering_at_once_get_unique_gapless_numbers(
    postgres_url: str, tmp_path: Path
) -> None:
    args = [(postgres_url, str(tmp_path), w, 25) for w in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_register_many, args)
    numbers = sorted(n for worker in results for n in worker)
    assert numbers == list(range(1, 101))
    stores = open_stores(tmp_path, metadata=postgres_url)
    registered = stores.metadata.list_events(kind="model.version.registered")
    assert sorted(e.version or 0 for e in registered) == numbers
    stores.close()


def test_processes_registering_the_same_content_at_once_make_one_version(
    postgres_url: str, tmp_path: Path
) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_register_same, [(postgres_url, str(tmp_path))] * 8)
    assert {number for number, _ in results} == {1}
    assert sum(created for _, created in results) == 1


def test_processes_opening_a_fresh_database_at_once_all_succeed(
    postgres_url: str, tmp_path: Path
) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.starmap(_open_and_count, [(postgres_url, str(tmp_path))] * 4) == [0] * 4
