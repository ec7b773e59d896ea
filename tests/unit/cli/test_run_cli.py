"""The entry point refuses bad runs before Ray starts, naming the problem."""

import pytest

import raydistill.cli.run
from raydistill.cli.run import main


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """Starting Ray at all fails the test: these runs must stop before it."""
    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started")
    monkeypatch.setattr(raydistill.cli.run, "init_ray", refuse)


def test_missing_source_file_fails_before_ray_naming_the_key(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    code = main(["conf=gsm8k_local", f"output.uri={tmp_path / 'out'}",
                 f"source.datasets=[{{name: g, format: jsonl, path: '{missing}', preset: gsm8k}}]"])
    assert code == 2
    err = capsys.readouterr().err
    assert "source.datasets[0].path" in err and "not found" in err
    assert not (tmp_path / "out").exists()  # nothing written, no run opened


def test_source_directory_without_matching_files_fails(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("not data")
    code = main(["conf=gsm8k_local", f"output.uri={tmp_path / 'out'}",
                 f"source.datasets=[{{name: g, format: parquet, path: '{tmp_path / 'src'}'}}]"])
    assert code == 2
    assert "no .parquet files under" in capsys.readouterr().err


def test_misspelled_key_fails_before_ray(tmp_path, capsys):
    assert main(["conf=local", f"output.uri={tmp_path}", "sampling.temprature=1"]) == 2
    assert "sampling.temprature" in capsys.readouterr().err


def test_unreachable_s3_output_fails_within_seconds(tmp_path, capsys):
    import socket
    import time

    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    code = main(["conf=local", "output.uri=s3://bucket/x",
                 f"output.s3_endpoint=http://127.0.0.1:{port}"])
    assert code == 2
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err
    assert "output.uri 's3://bucket/x' is not writable" in err


def test_help_lists_the_confs_and_sections(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "gsm8k_local" in out and "The local demo" in out and "sampling" in out
