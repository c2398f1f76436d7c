"""Teachers by Hub id, through a fake Hugging Face cache built in-process: nothing here touches the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from asdfd.cli import main
from asdfd.core import hub
from asdfd.core.errors import ModelLoadError
from asdfd.core.hub import looks_like_hub_id, resolve_model_dir

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch, tiny_teacher_dir):
    """`acme/tiny-sst2` in a cache laid out as huggingface_hub writes it (refs/main -> snapshots/<commit>/)."""
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-sst2"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT, encoding="utf-8")
    shutil.copytree(tiny_teacher_dir, repo / "snapshots" / COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return repo / "snapshots" / COMMIT


def test_hub_id_forms():
    assert looks_like_hub_id("acme/tiny-sst2") and looks_like_hub_id("acme/tiny-sst2@v1.0")
    assert not looks_like_hub_id("tiny-sst2") and not looks_like_hub_id("./a/b") and not looks_like_hub_id("a/../b")


def test_a_cached_hub_id_resolves_offline_and_distills(tmp_path, hub_cache):
    assert resolve_model_dir("acme/tiny-sst2") == hub_cache
    out = tmp_path / "student"
    result = CliRunner().invoke(
        main,
        ["-q", "distill", "--teacher", "acme/tiny-sst2", "--out", str(out), "--steps", "2", "--batch-size", "4"]
        + ["--max-length", "10", "--method", "random-tokens", "--threads", "1"]
        + ["--set", "heldout_random=8"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "distill.json").read_text())["teacher"] == str(hub_cache)


def test_a_folder_wins_over_a_hub_id_of_the_same_name(tmp_path, hub_cache, monkeypatch):
    local = tmp_path / "acme" / "tiny-sst2"
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("acme/tiny-sst2") == local.relative_to(tmp_path)


def test_an_unknown_hub_id_is_one_line_offline(tmp_path, hub_cache):
    with pytest.raises(ModelLoadError, match=r"acme/missing is neither a folder nor in the local Hugging Face cache"):
        resolve_model_dir("acme/missing")
    result = CliRunner().invoke(main, ["distill", "--teacher", "acme/missing", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "huggingface-cli download" in result.output


def test_an_unknown_hub_id_is_one_line_when_the_download_fails(tmp_path, hub_cache, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append(kwargs.get("local_files_only", False))
        if kwargs.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        assert kwargs["allow_patterns"] == hub.HUB_FILES and not any(p.endswith((".py", ".bin")) for p in hub.HUB_FILES)
        raise OSError("404 Client Error: Repository Not Found for url")

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    with pytest.raises(ModelLoadError, match=r"could not be fetched from the Hugging Face Hub \(OSError: 404"):
        resolve_model_dir("acme/missing")
    assert calls == [True, False]  # the cache first, then the download
    with pytest.raises(ModelLoadError, match="neither a folder nor in the local"):
        resolve_model_dir("acme/missing", local_only=True)


def test_a_hub_snapshot_with_custom_code_is_refused(tmp_path, hub_cache):
    config = json.loads((hub_cache / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling.Custom"}
    (hub_cache / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["distill", "--teacher", "acme/tiny-sst2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1 and "asks to run custom code" in result.output


def test_ids_huggingface_hub_refuses_are_paths_not_hub_ids():
    for name in ("acme/a--b", "acme/x.git", "acme/" + "x" * 300, "acme/-x"):
        assert not looks_like_hub_id(name), name
        assert resolve_model_dir(name) == Path(name)  # then read_classifier_config says it does not exist


def test_a_mistyped_local_folder_is_not_sent_to_the_hub(tmp_path, monkeypatch, hub_cache):
    (tmp_path / "artifacts").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match=r"model folder artifacts/teacher-sst does not exist .*check the path$"):
        resolve_model_dir("artifacts/teacher-sst")


def test_out_onto_the_cache_blobs_of_the_teacher_is_refused(tmp_path, tiny_teacher_dir):
    """A real cache snapshot is links into blobs/: --out there would destroy the cached teacher."""
    from asdfd.core._io import check_output_path
    from asdfd.core.errors import ConfigError

    repo = tmp_path / "models--acme--tiny"
    snapshot, blobs = repo / "snapshots" / COMMIT, repo / "blobs"
    snapshot.mkdir(parents=True), blobs.mkdir()
    for index, source in enumerate(sorted(tiny_teacher_dir.iterdir())):
        shutil.copyfile(source, blobs / f"blob{index}")
        (snapshot / source.name).symlink_to(Path("../../blobs") / f"blob{index}")
    for out in (blobs, blobs / "blob0", repo):
        with pytest.raises(ConfigError, match="would overwrite the input"):
            check_output_path(out, force=True, inputs=(snapshot,))
    assert resolve_model_dir(snapshot) == snapshot  # links inside the repository folder are fine


def test_links_that_leave_the_model_folder_are_refused(tmp_path, tiny_teacher_dir):
    from asdfd.core.model_folder import read_classifier_config

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, folder)
    outside = tmp_path / "secret.txt"
    outside.write_text("[PAD]\n", encoding="utf-8")
    (folder / "vocab.txt").unlink(missing_ok=True)
    (folder / "vocab.txt").symlink_to(outside)
    with pytest.raises(ModelLoadError, match=r"vocab.txt is a link to .*secret.txt, outside the model folder"):
        read_classifier_config(folder)
