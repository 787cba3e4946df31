"""The management token: where it comes from, how it is checked, and the explicit way off."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from app.core.errors import StartupError
from app.core.settings import Settings
from app.core.token import TOKEN_FILE_NAME, load_token_check
from app.main import create_app, lifespan
from tests.support.bad_requests import TOKEN

pytestmark = pytest.mark.anyio


def test_without_a_token_one_is_generated_once_into_an_owner_only_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.core.token")
    first = load_token_check(Settings(data_dir=tmp_path))
    path = tmp_path / TOKEN_FILE_NAME
    assert first.token is not None and path.read_text().strip().encode() == first.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.token) >= 32
    assert str(path.resolve()) in caplog.text and first.token.decode() not in caplog.text
    again = load_token_check(Settings(data_dir=tmp_path))
    assert again.token == first.token  # the next start keeps it: clients go on working
    path.unlink()  # how an operator replaces a leaked token
    third = load_token_check(Settings(data_dir=tmp_path))
    assert third.token not in (None, first.token)
    assert path.read_text().strip().encode() == third.token


def test_token_from_setting_or_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "var"
    from_setting = Settings(api_token=TOKEN, data_dir=data_dir)  # type: ignore[arg-type]
    assert load_token_check(from_setting).token == TOKEN.encode()
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    token_file.chmod(0o600)
    from_file = Settings(api_token_file=token_file, data_dir=data_dir)
    assert load_token_check(from_file).token == TOKEN.encode()
    assert not (data_dir / TOKEN_FILE_NAME).exists()  # nothing generated
    assert "other users" not in caplog.text
    token_file.chmod(0o644)
    load_token_check(from_file)
    assert f"{token_file} can be read by other users" in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"no_auth": True, "api_token": TOKEN}, "no_auth is set together with a token"),
        ({"api_token": TOKEN, "api_token_file": "t"}, "both set"),
        ({"api_token_file": "missing-file"}, "missing-file: cannot read the API token file"),
    ],
    ids=["no-auth-and-token", "token-and-file", "missing-file"],
)
def test_conflicting_or_missing_tokens_stop_start_up(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(StartupError, match=message):
        load_token_check(Settings(data_dir=tmp_path, **settings))  # type: ignore[arg-type]


def test_short_tokens_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(api_token="secret")  # type: ignore[arg-type]
    short = tmp_path / "token"
    short.write_text("secret\n")
    with pytest.raises(StartupError, match="at least 16 characters"):
        load_token_check(Settings(api_token_file=short))


def test_the_token_never_shows_in_the_settings() -> None:
    settings = Settings(api_token=TOKEN)  # type: ignore[arg-type]
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


async def test_management_routes_need_the_token_and_reads_do_not(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/v1/models/1/activate")).status_code == 401
    wrong = await client.post("/v1/models/1/activate", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    lower = await client.post("/v1/models/1/activate", headers={"authorization": f"bearer {TOKEN}"})
    assert lower.status_code == 200  # the scheme is case-insensitive
    for path in ("/v1/models", "/v1/train", "/v1/datasets", "/v1/models/1"):
        assert (await client.get(path)).status_code == 200, path


async def test_no_auth_turns_the_check_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"api_token": None, "no_auth": True}))
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.post("/v1/models/1/activate")).status_code == 200
    assert not (settings.data_dir / TOKEN_FILE_NAME).exists()
