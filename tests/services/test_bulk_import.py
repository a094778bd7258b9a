"""CSV bulk import: every bad row reported with line, column and reason; nothing half-imported;
one transaction with one config version bump and one change log entry."""

from __future__ import annotations

import time

import pytest

from nac.core.secrets import PURPOSE_USER_PASSWORD, SecretBox
from nac.db import crud
from nac.db.engine import Database
from nac.db.models import EndpointCreate, User, UserCreate
from nac.services.bulk_import import (
    ImportRejected,
    RowError,
    import_endpoints,
    import_users,
    parse_endpoints,
    parse_users,
)

USERS = """name,password,groups,enabled,description
alice,a-pass,employees;vpn,yes,Alice
bob,b-pass,,no,
"carol",c-pass,employees,,"multi
line"
"""


def errors_of(excinfo: pytest.ExceptionInfo[ImportRejected]) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in excinfo.value.errors]


def test_parse_reports_every_bad_row_with_line_and_column() -> None:
    text = (
        "name,password,groups,enabled\n"
        "ok,p,g1,yes\n"  # line 2: fine
        "bad name,p,,\n"  # line 3: name
        f"x,{'secret' * 50},,\n"  # line 4: password too long
        "y,p,bad group!,maybe\n"  # line 5: groups and enabled
        "ok,p,,\n"  # line 6: duplicate of line 2
        "z,p\n"  # line 7: too few values
    )
    with pytest.raises(ImportRejected) as excinfo:
        parse_users(text)
    assert errors_of(excinfo) == [
        (3, "name"),
        (4, "password"),
        (5, "groups"),
        (5, "enabled"),
        (6, "name"),
        (7, ""),
    ]
    reasons = {(e.line, e.column): e.reason for e in excinfo.value.errors}
    assert reasons[(6, "name")] == "duplicate of line 2"
    assert "2 values, the header has 4 columns" in reasons[(7, "")]
    assert "not yes/no" in reasons[(5, "enabled")]
    assert "at most 256" in reasons[(4, "password")]
    assert "secret" not in str(excinfo.value.errors)  # a password is never echoed
    assert str(excinfo.value).startswith("nothing imported: line 3, column name:")


def test_parse_header_problems() -> None:
    with pytest.raises(ImportRejected) as excinfo:
        parse_users("name,pasword\nalice,x\n")
    assert errors_of(excinfo) == [(1, "pasword"), (1, "password")]
    with pytest.raises(ImportRejected) as excinfo:
        parse_users("")
    assert "empty file" in excinfo.value.errors[0].reason
    with pytest.raises(ImportRejected) as excinfo:
        parse_endpoints("mac,mac\n")
    assert errors_of(excinfo) == [(1, "mac")]
    with pytest.raises(ImportRejected) as excinfo:
        parse_endpoints(b"mac\n\xff\xfe\n")
    assert excinfo.value.errors == [RowError(2, "", "not UTF-8 text")]


def test_parse_line_numbers_count_multiline_fields_and_bom() -> None:
    rows = parse_users("\ufeff" + USERS)
    assert [(r.line, r.name) for r in rows] == [(2, "alice"), (3, "bob"), (4, "carol")]
    text = 'mac,description\n00:11:22:33:44:01,"two\nlines"\nnot-a-mac,x\n'
    with pytest.raises(ImportRejected) as excinfo:
        parse_endpoints(text)
    assert errors_of(excinfo) == [(4, "mac")]
    assert "not a MAC address" in excinfo.value.errors[0].reason


async def test_import_users_in_one_transaction(database: Database, box: SecretBox) -> None:
    async with database.session() as s:
        before = await crud.get_config_version(s)
        result = await import_users(s, USERS.encode(), box=box, admin="root", source="u.csv")
    assert (result.created, result.updated, result.rows) == (3, 0, 3)
    assert result.groups_created == ["employees", "vpn"]
    async with database.session() as s:
        assert await crud.get_config_version(s) == before + 1
        users = {u.name: u for u in await crud.list_users(s)}
        assert users["alice"].groups == ["employees", "vpn"]
        assert users["bob"].enabled is False
        assert users["carol"].description == "multi\nline"
        row = (await s.execute(User.__table__.select().where(User.name == "alice"))).first()
        assert box.decrypt(row.password_enc, purpose=PURPOSE_USER_PASSWORD) == "a-pass"
        (change,) = await crud.list_admin_changes(s)
        assert (change.admin, change.action, change.object_type, change.object_key) == (
            "root",
            "import",
            "user",
            "u.csv",
        )
        assert change.after["created"] == 3
        assert "a-pass" not in str(change.after)


async def test_existing_user_is_a_row_error_and_nothing_is_written(
    database: Database, box: SecretBox
) -> None:
    async with database.session() as s:
        await crud.create_user(s, user=UserCreate(name="bob", password="old"), box=box)
        version = await crud.get_config_version(s)
    with pytest.raises(ImportRejected) as excinfo:
        async with database.session() as s:
            await import_users(s, USERS, box=box, admin="root")
    assert errors_of(excinfo) == [(3, "name")]
    assert "--update" in excinfo.value.errors[0].reason
    async with database.session() as s:
        assert [u.name for u in await crud.list_users(s)] == ["bob"]
        assert await crud.list_groups(s) == []
        assert await crud.get_config_version(s) == version
        assert await crud.list_admin_changes(s) == []


async def test_update_changes_only_the_given_columns(database: Database, box: SecretBox) -> None:
    async with database.session() as s:
        await crud.create_user(
            s,
            user=UserCreate(name="bob", password="old", groups=["g1"], description="keep"),
            box=box,
            create_groups=True,
        )
    text = "name,password,enabled,groups\nbob,,no,g2\nnew,,yes,\n"
    with pytest.raises(ImportRejected) as excinfo:  # a new user needs a password
        async with database.session() as s:
            await import_users(s, text, box=box, admin="root", update=True)
    assert errors_of(excinfo) == [(3, "password")]
    async with database.session() as s:
        result = await import_users(
            s, text.replace("new,,", "new,pw,"), box=box, admin="r", update=True
        )
    assert (result.created, result.updated) == (1, 1)
    async with database.session() as s:
        bob = await crud.get_user(s, name="bob")
        assert (bob.enabled, bob.groups, bob.description) == (False, ["g2"], "keep")
        runtime = await crud.load_runtime_config(s, box=box)
        assert {u.name: u.password for u in runtime.users} == {"bob": "old", "new": "pw"}


async def test_import_endpoints(database: Database) -> None:
    async with database.session() as s:
        await crud.create_endpoint(s, endpoint=EndpointCreate(mac="00:11:22:33:44:01"))
        await crud.set_endpoint_state(s, mac="00:11:22:33:44:02", profile="phone")  # discovered
    text = (
        "mac,profile,group,description,blocked\n"
        "00-11-22-33-44-02,printer,floor2,HP,no\n"
        "0011.2233.4403,,,,yes\n"
    )
    async with database.session() as s:
        result = await import_endpoints(s, text, admin="oper")
    assert (result.created, result.updated) == (1, 1)
    async with database.session() as s:
        rows = {e.mac: e for e in await crud.list_endpoints(s)}
        assert (
            rows["00:11:22:33:44:02"].registered and rows["00:11:22:33:44:02"].profile == "printer"
        )
        assert rows["00:11:22:33:44:03"].blocked and rows["00:11:22:33:44:03"].registered
        assert (
            rows["00:11:22:33:44:03"].signals == {}
            and rows["00:11:22:33:44:03"].posture_state == "unknown"
        )
    with pytest.raises(ImportRejected) as excinfo:
        async with database.session() as s:
            await import_endpoints(s, "mac\n00:11:22:33:44:01\n", admin="oper")
    assert errors_of(excinfo) == [(2, "mac")]
    async with database.session() as s:
        result = await import_endpoints(
            s, "mac,profile\n00:11:22:33:44:01,camera\n", admin="oper", update=True
        )
        assert result.updated == 1
        assert (await crud.get_endpoint(s, mac="00:11:22:33:44:01")).profile == "camera"


async def test_ten_thousand_users_import_in_a_few_seconds(
    database: Database, box: SecretBox
) -> None:
    lines = ["name,password,groups,enabled"]
    lines += [f"user{i:05d},pass-{i},g{i % 20};all,yes" for i in range(10_000)]
    seen: list[tuple[str, int, int]] = []
    start = time.perf_counter()
    async with database.session() as s:
        result = await import_users(
            s, "\n".join(lines), box=box, admin="root", progress=lambda *a: seen.append(a)
        )
    elapsed = time.perf_counter() - start
    assert result.created == 10_000
    assert seen[-1] == ("write", 10_000, 10_000)
    assert ("validate", 10_000, 10_000) in seen
    async with database.session() as s:
        users = await crud.list_users(s)
    assert len(users) == 10_000 and users[7].groups == ["all", "g7"]
    print(f"10,000 users imported in {elapsed:.2f} s")
    assert elapsed < 15  # a few seconds on a loaded 2-core CI machine


async def test_ten_thousand_endpoints_import_in_a_few_seconds(database: Database) -> None:
    lines = ["mac,profile,group"]
    lines += [f"02:00:00:00:{i >> 8:02x}:{i & 255:02x},printer,g{i % 5}" for i in range(10_000)]
    start = time.perf_counter()
    async with database.session() as s:
        result = await import_endpoints(s, "\n".join(lines), admin="oper")
    elapsed = time.perf_counter() - start
    assert result.created == 10_000
    print(f"10,000 endpoints imported in {elapsed:.2f} s")
    assert elapsed < 15
