"""Saving a plan never destroys what the user had: the output folder checks, the manifest,
``--overwrite`` that removes only the files an earlier plan wrote, and atomic writes.

A stand-in writer (a few small files and the real manifest) replaces the map, report and
GeoPackage, so these tests need no plan; ``test_outputs`` and ``test_cli`` save real plans.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

import charge_planner.outputs.write as outputs
from charge_planner import __version__
from charge_planner.config import OutputsSection
from charge_planner.outputs import (
    MANIFEST,
    OutputError,
    check_output_folder,
    default_output_folder,
    read_manifest,
    save_plan,
    write_outputs,
)
from charge_planner.pipeline import Plan


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` with its content (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def city(tmp_path):
    folder = tmp_path / "cities" / "town"
    folder.mkdir(parents=True)
    (folder / "city.toml").write_text("[city]\nname = 'Town'\n")
    return folder


def fake_plan(city_dir, *, files=("a.csv", "b.csv", "c.csv"), text="one", data_root=None, folder=None):
    """What save_plan reads of a plan, and the files the stand-in writer writes."""
    config = SimpleNamespace(outputs=OutputsSection(folder=folder), city=SimpleNamespace(name="Town"))
    return SimpleNamespace(
        city=SimpleNamespace(config=config, city_dir=city_dir, data_root=data_root),
        summary={"city": "Town", "config_hash": "0123456789abcdef"},
        files=files,
        text=text,
    )


@pytest.fixture(autouse=True)
def small_writer(monkeypatch):
    """Replace the heavy writer by one that writes the plan's few files and the real manifest."""

    def write(plan, folder, *, offline=None, pdf=None):
        folder = Path(folder)
        assert folder.is_dir() and not any(folder.iterdir())
        written = []
        for name in plan.files:
            (folder / name).write_text(f"{plan.text} {name}\n")
            written.append(folder / name)
        return [*written, outputs.write_manifest(folder, written, plan=plan)]

    monkeypatch.setattr(outputs, "write_outputs", write)


def no_temporary_folders(folder: Path) -> bool:
    return not [p for p in folder.rglob(".charge-planner-*")]


def test_new_folder_gets_the_files_and_a_manifest_listing_them(city, tmp_path):
    out = tmp_path / "results" / "deep" / "town"
    assert save_plan(fake_plan(city), out) == out.resolve()
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv", "c.csv", MANIFEST]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["package"] == "charge-planner" and manifest["version"] == __version__
    assert manifest["city"] == "Town" and manifest["config_hash"] == "0123456789abcdef"
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == {"a.csv", "b.csv", "c.csv"}
    for name, entry in listed.items():
        data = (out / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert read_manifest(out) == manifest
    assert no_temporary_folders(tmp_path)


@pytest.mark.parametrize("where", ["city", "parent", "grandparent"])
def test_city_folder_and_its_ancestors_are_refused(city, where):
    out = {"city": city, "parent": city.parent, "grandparent": city.parent.parent}[where]
    before = snapshot(city.parent.parent)
    with pytest.raises(OutputError, match="city folder") as err:
        save_plan(fake_plan(city), out, overwrite=True)
    assert "\n" not in str(err.value)
    assert snapshot(city.parent.parent) == before  # city.toml is still there


def test_relative_dot_dot_above_the_city_is_refused(city, monkeypatch):
    monkeypatch.chdir(city)
    with pytest.raises(OutputError, match="contains the city folder"):
        check_output_folder("..", city_dir=city)
    with pytest.raises(OutputError, match="is the city folder"):
        check_output_folder(".", city_dir=".")


def test_data_root_and_its_ancestors_are_refused(city, tmp_path):
    root = tmp_path / "shared" / "data"
    root.mkdir(parents=True)
    (root / "roads.osm").write_text("<osm/>")
    for out in (root, root.parent):
        with pytest.raises(OutputError, match="data root"):
            save_plan(fake_plan(city, data_root=root), out, overwrite=True)
    assert (root / "roads.osm").read_text() == "<osm/>"
    # inside the data root is a folder of its own
    assert save_plan(fake_plan(city, data_root=root), root / "plans" / "town").is_dir()


def test_folder_with_user_files_is_refused_and_left_alone(city, tmp_path):
    out = tmp_path / "documents"
    (out / "holiday").mkdir(parents=True)
    (out / "thesis.docx").write_text("years of work")
    before = snapshot(out)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"documents holds files \(holiday, thesis.docx\).*no manifest.json"):
            save_plan(fake_plan(city), out, overwrite=overwrite)
    assert snapshot(out) == before


def test_existing_file_and_a_file_on_the_path_are_refused(city, tmp_path):
    target = tmp_path / "plan.txt"
    target.write_text("mine")
    with pytest.raises(OutputError, match="is a file; choose a folder"):
        save_plan(fake_plan(city), target, overwrite=True)
    with pytest.raises(OutputError, match="plan.txt is a file"):
        save_plan(fake_plan(city), target / "sub" / "out")
    assert target.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["cities", "plan.txt"]


def test_folder_that_cannot_be_written_is_refused(city, tmp_path, read_only):
    """The check asks ``os.access`` (as root, chmod does not take write access away)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    with pytest.raises(OutputError, match="locked is not writable"):
        save_plan(fake_plan(city), locked)
    with pytest.raises(OutputError, match="cannot create output folder .*new/out: .*locked is not writable"):
        save_plan(fake_plan(city), locked / "new" / "out")
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused_for_real(city, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            save_plan(fake_plan(city), locked / "out")
    finally:
        locked.chmod(0o755)


def test_existing_empty_folder_is_used(city, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    save_plan(fake_plan(city), out)
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv", "c.csv", MANIFEST]
    assert no_temporary_folders(tmp_path)


def test_earlier_output_is_kept_without_overwrite(city, tmp_path):
    out = tmp_path / "out"
    save_plan(fake_plan(city), out)
    before = snapshot(out)
    with pytest.raises(OutputError, match="earlier plan's output; pass --overwrite"):
        save_plan(fake_plan(city, text="two"), out)
    assert snapshot(out) == before


def test_overwrite_replaces_only_the_files_of_the_manifest(city, tmp_path):
    out = tmp_path / "out"
    save_plan(fake_plan(city), out)
    (out / "my notes.txt").write_text("keep me")
    (out / "figures").mkdir()
    (out / "figures" / "fig.png").write_bytes(b"png")
    save_plan(fake_plan(city, files=("a.csv", "d.csv"), text="two"), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "d.csv", "figures", MANIFEST, "my notes.txt"]
    assert (out / "a.csv").read_text() == "two a.csv\n" and (out / "d.csv").read_text() == "two d.csv\n"
    assert (out / "my notes.txt").read_text() == "keep me" and (out / "figures" / "fig.png").read_bytes() == b"png"
    assert [f["name"] for f in read_manifest(out)["files"]] == ["a.csv", "d.csv"]
    assert no_temporary_folders(tmp_path)


def test_overwrite_never_writes_over_a_user_file_of_a_new_name(city, tmp_path):
    out = tmp_path / "out"
    save_plan(fake_plan(city), out)
    (out / "d.csv").write_text("the user's own table")
    before = snapshot(out)
    with pytest.raises(OutputError, match="d.csv was not written by the earlier output"):
        save_plan(fake_plan(city, files=("a.csv", "d.csv"), text="two"), out, overwrite=True)
    assert snapshot(out) == before
    assert no_temporary_folders(tmp_path)


def test_a_manifest_cannot_name_files_outside_its_folder(city, tmp_path):
    out = tmp_path / "out"
    save_plan(fake_plan(city), out)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"name": "../victim.txt"})
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert read_manifest(out) is None
    with pytest.raises(OutputError, match="manifest.json is not a charge-planner manifest"):
        save_plan(fake_plan(city), out, overwrite=True)
    assert victim.read_text() == "precious"
    (out / MANIFEST).write_text("{not json")
    assert read_manifest(out) is None


def test_a_failure_while_writing_leaves_nothing_behind(city, tmp_path, monkeypatch):
    def broken(plan, folder, **kw):
        (Path(folder) / "a.csv").write_text("half")
        raise RuntimeError("disk on fire")

    out = tmp_path / "new" / "deeper" / "out"
    earlier = tmp_path / "earlier"
    save_plan(fake_plan(city), earlier)
    (earlier / "mine.txt").write_text("mine")
    before = snapshot(tmp_path)
    monkeypatch.setattr(outputs, "write_outputs", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_plan(fake_plan(city), out)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_plan(fake_plan(city), earlier, overwrite=True)
    assert snapshot(tmp_path) == before  # no partial output, no parent folders left, earlier output intact


def test_a_failure_while_moving_files_restores_the_earlier_output(city, tmp_path, monkeypatch):
    out = tmp_path / "out"
    save_plan(fake_plan(city), out)
    (out / "mine.txt").write_text("mine")
    before = snapshot(out)
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 5:  # three earlier files and the manifest set aside, then the first new file fails
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OutputError, match="cannot write outputs to .*No space left on device; nothing was changed"):
        save_plan(fake_plan(city, text="two"), out, overwrite=True)
    assert snapshot(out) == before
    assert no_temporary_folders(tmp_path)


def test_write_outputs_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="is not empty"):
        write_outputs(None, tmp_path)  # the real writer checks before it reads the plan
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_default_output_folder(tmp_path):
    cfg = SimpleNamespace(outputs=OutputsSection())
    assert default_output_folder(cfg, tmp_path / "my_city") == Path("out") / "my_city"
    cfg = SimpleNamespace(outputs=OutputsSection(folder="plans/town"))
    assert default_output_folder(cfg, tmp_path / "my_city") == Path("plans/town")
    cfg = SimpleNamespace(outputs=OutputsSection(folder="~/plans"))
    assert default_output_folder(cfg, tmp_path) == Path.home() / "plans"


def test_plan_save_follows_the_same_rules(city, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = fake_plan(city, folder="plans/town")
    assert Plan.save(plan) == (tmp_path / "plans" / "town").resolve()  # outputs.folder, relative to here
    with pytest.raises(OutputError, match="pass --overwrite"):
        Plan.save(plan)  # overwrite is off by default
    Plan.save(fake_plan(city, files=("a.csv",), text="two"), "plans/town", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "plans" / "town").iterdir()) == ["a.csv", MANIFEST]
    with pytest.raises(OutputError, match="contains the city folder"):
        Plan.save(plan, tmp_path, overwrite=True)
