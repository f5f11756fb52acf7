"""Site profiles: the shipped ones load and say what JSC documents; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfile.codegen.profile import ProfileError, load_profile, shipped_profiles


def test_shipped_profiles() -> None:
    assert shipped_profiles() == ["juwels-booster", "juwels-cluster", "local", "local-multinode"]
    booster = load_profile("juwels-booster")
    node = booster.partitions["booster"]
    assert (node.gpus_per_node, node.cores_per_node, node.cpus_per_node, node.memory_per_node_mb) == (4, 48, 96, 512000)
    assert sorted(booster.partitions) == ["booster", "develbooster"]
    assert booster.mpi.args[0] == "--mpi=pspmix" and booster.interconnect_suffix == "i"
    assert booster.container.gpu_flags == ("--nv",) and "--cleanenv" in booster.container.flags
    assert set(booster.container.bind_env) == {"PROJECT", "SCRATCH"}
    cluster = load_profile("juwels-cluster")
    assert sorted(cluster.partitions) == ["batch", "devel", "develgpus", "gpus", "mem192"]
    assert cluster.gpu_partition == "gpus" and cluster.partitions["batch"].gpus_per_node == 0
    local = load_profile("local")
    assert local.container.runtime == "none" and local.mpi.args == ("--mpi=pmix",)
    assert sorted(local.partitions) == ["batch", "devel"] and not local.account_required
    multi = load_profile("local-multinode")  # scripts/local-slurm.sh start --nodes 2
    assert multi.mpi.args == local.mpi.args and multi.interconnect_suffix == ""
    assert {name: p.max_nodes for name, p in multi.partitions.items()} == {"batch": 2, "devel": 2}


def test_a_profile_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mysite.toml"
    path.write_text('cpu_partition = "cpu"\n[partitions.cpu]\ncores_per_node = 8\nmemory_per_node_mb = 1000\n'
                    'max_time = "1:00:00"\nmax_nodes = 2\n')
    profile = load_profile(str(path))
    assert profile.name == "mysite" and profile.sha256 and profile.partitions["cpu"].cores_per_node == 8


@pytest.mark.parametrize("text,match", [
    ("cpu_partition = [", "not valid TOML"),
    ('cpu_partition = "x"\n[partitions]\n', "cpu_partition 'x' is not one of"),
    ('cpu_partition = "c"\nbogus = 1\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "bogus"),
    ('cpu_partition = "c"\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "later"\nmax_nodes = 1\n', "not a Slurm time"),
    ('cpu_partition = "c"\nmodules = ["a; rm -rf /"]\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "need quoting"),
    ('cpu_partition = "c"\n[mpi]\nargs = ["--x=$(id)"]\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "need quoting"),
])
def test_bad_profiles_are_refused_with_a_reason(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=match):
        load_profile(str(path))


def test_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="unknown profile 'jureca'.*juwels-booster, juwels-cluster, local"):
        load_profile("jureca")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile("/nonexistent/site.toml")
