"""`lstm-serve serve` in process: flags become settings, and a model that cannot be loaded
stops start-up with one line on stderr. (tests/integration runs the real command.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.main import build_parser, main


def test_serve_flags_parse() -> None:
    args = build_parser().parse_args(
        ["serve", "--model", "m.pt", "--port", "9000", "--data-dir", "d", "--backend", "numpy"]
    )
    assert (args.model, args.port, args.data_dir, args.backend) == (
        Path("m.pt"),
        9000,
        Path("d"),
        "numpy",
    )
    assert args.host is None  # unset flags leave LSTM_SERVE_* variables in charge


def test_corrupt_model_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x07" * 100)
    code = main(["serve", "--model", str(bad), "--data-dir", str(tmp_path / "var")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("lstm-serve: error: ")
    assert f"{bad}: corrupt or truncated safetensors file" in err


def test_invalid_setting_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "70000"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "port" in err


def test_grpc_port_flag_parses() -> None:
    assert build_parser().parse_args(["serve", "--grpc-port", "8001"]).grpc_port == 8001
    assert build_parser().parse_args(["serve"]).grpc_port is None  # LSTM_SERVE_GRPC_PORT decides


def test_management_token_flags_parse() -> None:
    args = build_parser().parse_args(["serve", "--api-token-file", "t", "--no-auth"])
    assert (args.api_token_file, args.no_auth, args.api_token) == (Path("t"), True, None)
    assert build_parser().parse_args(["serve"]).no_auth is None  # the variable decides


def test_no_auth_with_a_token_fails_with_one_line(
    tmp_path: Path, small_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--model", str(small_checkpoint), "--data-dir", str(tmp_path / "var")]
    argv += ["--no-auth", "--api-token", "x" * 20]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_auth is set together with a token" in err
