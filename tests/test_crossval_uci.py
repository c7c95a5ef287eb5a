"""`edgehar crossval --with-uci`: each fold also trains on the published UCI HAR training windows of
its training people (HAPT's users are UCI HAR's subjects), never on the held-out people's; on real
HAPT recordings of users 1, 3 and 5 and the real UCI HAR training split, tiny epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edgehar.bundle import Bundle
from edgehar.cli import app
from edgehar.data.recordings import ClassMap, read_recordings
from edgehar.preprocess.pipeline import Pipeline
from edgehar.scoring import crossval as cv
from edgehar.spec import ACTIVITIES

TINY = cv.Recipe("dscnn", {"filters": [8, 8], "kernel": 3}, epochs=1, val_groups=0)


def _uci_windows_of(uci_train, people) -> int:
    return int(np.isin(uci_train.subject, [int(p) for p in people]).sum())


def test_the_uci_windows_added_are_the_training_peoples_own_in_their_groups(uci_dir, uci_train):
    windows = cv.uci_training_windows(str(uci_dir), ["1", "3"], ["1", "3", "5"], Pipeline.preset("causal9"))
    assert len(windows) == _uci_windows_of(uci_train, ["1", "3"]) > 0
    assert set(windows.subject) == {"1", "3"}  # validation holds a person out in both worlds
    assert windows.X.shape[1:] == (128, 9) and set(windows.y) == set(range(1, 7))


def test_people_who_are_not_uci_har_subjects_get_the_whole_training_split_as_extra_people(uci_dir, uci_train):
    windows = cv.uci_training_windows(str(uci_dir), ["alice"], ["alice", "bob"], Pipeline.preset("causal9"))
    assert len(windows) == len(uci_train)
    by, groups = windows.groups()
    assert set(windows.subject) == {""}  # never taken for one of the wearers
    assert len(set(groups)) == len(np.unique(uci_train.subject))


def test_a_fold_trains_on_its_training_peoples_uci_windows_and_never_the_held_out_ones(own, uci_dir,
                                                                                      uci_train, tmp_path):
    found = read_recordings(own)
    runs = {}
    for recipe in (TINY, cv.Recipe(**{**vars(TINY), "with_uci": True})):
        report = cv.crossval(own, found, ClassMap.identity(ACTIVITIES), [recipe], folds=3,
                             variants=("int8",), cache=tmp_path / "cache", out=tmp_path / "r.json",
                             only_folds=[0, 1], uci=uci_dir, log=lambda line: None)
        (entry,) = report["results"].values()
        runs[recipe.with_uci] = entry["runs"]
    assert [r["recipe"] for r in runs[True]] == [f"{TINY.name} +uci"] * 2
    for plain, mixed in zip(runs[False], runs[True], strict=True):
        assert mixed["held_out"] == plain["held_out"] and mixed["cache"] != plain["cache"]
        added = mixed["train_windows"] - plain["train_windows"]
        assert added == _uci_windows_of(uci_train, mixed["train_groups"])
        assert added != _uci_windows_of(uci_train, mixed["train_groups"] + mixed["held_out"])
        trained = Bundle.load(Path(mixed["cache"]) / "bundle").metadata["training"]["recordings"]["windows"]
        assert sum(trained.values()) == mixed["train_windows"]


def test_with_uci_needs_uci_hars_six_classes_one_line(own, uci_dir, tmp_path):
    done = CliRunner().invoke(app, ["crossval", "--recordings", str(own), "--folds", "3",
                                    "--classes", "WALKING,SITTING",
                                    "--with-uci", "--data", str(uci_dir), "--out", str(tmp_path / "r.json")])
    assert done.exit_code != 0 and "--with-uci: UCI HAR's windows are labelled" in str(done.exception)
    assert not (tmp_path / "r.json").exists()
