"""The OCR and screening pools are sized from the cgroup CPU quota (issue 17), read from fake cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailintake_common import cpus
from mailintake_common.cpus import available_cpus, cgroup_cpu_limit, parse_cfs, parse_cpu_max


@pytest.fixture
def many_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine offers 64 cores to this process, whatever it really has."""
    monkeypatch.setattr(cpus, "schedulable_cpus", lambda: 64)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v2_quota_in_a_container(tmp_path: Path, many_cores: None) -> None:
    write(tmp_path / "cg" / "cpu.max", "200000 100000")
    write(tmp_path / "self", "0::/\n")
    assert cgroup_cpu_limit(tmp_path / "cg", tmp_path / "self") == 2.0
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 2


def test_cgroup_v2_without_a_limit_falls_back_to_affinity(tmp_path: Path, many_cores: None) -> None:
    write(tmp_path / "cg" / "cpu.max", "max 100000")
    write(tmp_path / "self", "0::/\n")
    assert cgroup_cpu_limit(tmp_path / "cg", tmp_path / "self") is None
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 64


def test_cgroup_v2_the_tightest_of_own_group_and_parents_wins(tmp_path: Path, many_cores: None) -> None:
    write(tmp_path / "self", "0::/kubepods/pod1/ctr\n")
    write(tmp_path / "cg" / "kubepods" / "cpu.max", "max 100000")
    write(tmp_path / "cg" / "kubepods" / "pod1" / "cpu.max", "150000 100000")
    write(tmp_path / "cg" / "kubepods" / "pod1" / "ctr" / "cpu.max", "400000 100000")
    assert cgroup_cpu_limit(tmp_path / "cg", tmp_path / "self") == 1.5
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 1  # 1.5 CPUs: one worker, never more than granted


def test_cgroup_v1_cfs_quota(tmp_path: Path, many_cores: None) -> None:
    write(tmp_path / "self", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    write(tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "300000")
    write(tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000")
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 3


def test_cgroup_v1_unlimited_quota_is_minus_one(tmp_path: Path, many_cores: None) -> None:
    write(tmp_path / "self", "4:cpu,cpuacct:/\n")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_quota_us", "-1")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_period_us", "100000")
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 64


def test_a_quota_under_one_cpu_still_gets_one_worker_and_a_quota_never_raises_affinity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "self", "0::/\n")
    write(tmp_path / "cg" / "cpu.max", "50000 100000")
    monkeypatch.setattr(cpus, "schedulable_cpus", lambda: 64)
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 1
    write(tmp_path / "cg" / "cpu.max", "1600000 100000")
    monkeypatch.setattr(cpus, "schedulable_cpus", lambda: 4)
    assert available_cpus(tmp_path / "cg", tmp_path / "self") == 4


def test_no_cgroup_files_at_all_uses_the_affinity_mask(tmp_path: Path) -> None:
    expected = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path / "absent", tmp_path / "absent-self") == expected


def test_parsers_ignore_garbage() -> None:
    assert parse_cpu_max("") is None
    assert parse_cpu_max("lots 100000") is None
    assert parse_cpu_max("250000") == 2.5
    assert parse_cfs("x", "100000") is None
    assert parse_cfs("100000", "0") is None


def test_the_pools_use_it_when_no_size_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from mailintake_classifier.settings import ClassifierSettings
    from mailintake_quarantine.settings import QuarantineSettings

    monkeypatch.setattr("mailintake_classifier.settings.available_cpus", lambda: 3)
    monkeypatch.setattr("mailintake_quarantine.settings.available_cpus", lambda: 3)
    assert ClassifierSettings().workers() == 3
    assert ClassifierSettings(ocr_workers=5).workers() == 5
    assert QuarantineSettings().screening_pool_size() == 3
