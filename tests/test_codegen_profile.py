"""Site profiles: the shipped ones load and say what JSC documents; bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfile.codegen.profile import ProfileError, load_profile, shipped_profiles


def test_shipped_profiles() -> None:
    assert shipped_profiles() == ["juwels-booster", "juwels-cluster", "local", "local-multinode"]
    booster = load_profile("juwels-booster")
    node = booster.partitions["booster"]
    # notes/juwels.md: 2 x 24 cores x 2 threads, 4 A100, 512 GB of which jobs get 499712 MB.
    assert (node.gpus_per_node, node.cores_per_node, node.cpus_per_node, node.memory_per_node_mb) == (4, 48, 96, 499712)
    assert sorted(booster.partitions) == ["booster", "develbooster", "largebooster"]
    assert [booster.partitions[p].max_nodes for p in ("booster", "develbooster")] == [384, 4]
    assert booster.partitions["largebooster"].max_nodes > 384
    assert booster.mpi.args[0] == "--mpi=pspmix" and booster.interconnect_suffix == "i"
    assert "--hint=nomultithread" not in booster.mpi.args  # it would make --cpus-per-task count cores
    assert booster.container.gpu_flags == ("--nv",) and "--cleanenv" in booster.container.flags
    assert set(booster.container.bind_env) == {"PROJECT", "SCRATCH", "FASTDATA", "DATA", "LOCALSCRATCH"}
    assert booster.env["NCCL_SOCKET_IFNAME"] == booster.env["GLOO_SOCKET_IFNAME"] == "ib0"
    assert {"NCCL_IB_TIMEOUT", "UCX_RC_TIMEOUT"} <= set(booster.env)
    assert booster.environment == "apptainer" and booster.image_for("booster").endswith("mfile-cuda.sif")
    assert booster.modules.load[0].startswith("Stages/") and booster.modules.venv and booster.gpu_required
    cluster = load_profile("juwels-cluster")
    assert sorted(cluster.partitions) == ["batch", "devel", "develgpus", "gpus", "mem192"]
    assert cluster.gpu_partition == "gpus" and cluster.partitions["batch"].gpus_per_node == 0
    assert cluster.partitions["batch"].cpus_per_node == 96 and cluster.partitions["gpus"].cpus_per_node == 80
    assert (cluster.partitions["batch"].memory_per_node_mb, cluster.partitions["gpus"].memory_per_node_mb) == (94000, 180000)
    assert cluster.image_for("batch").endswith("mfile-cpu.sif") and cluster.image_for("gpus").endswith("mfile-cuda.sif")
    assert "--cpu-bind=cores" not in cluster.mpi.args
    for profile in (booster, cluster):
        assert all(p.max_time <= "24:00:00" for p in profile.partitions.values())
    local = load_profile("local")
    assert local.environment == "none" and local.mpi.args == ("--mpi=pmix",) and not local.gpu_required
    assert sorted(local.partitions) == ["batch", "devel"] and not local.account_required
    multi = load_profile("local-multinode")  # scripts/local-slurm.sh start --nodes 2
    assert multi.mpi.args == local.mpi.args and multi.interconnect_suffix == ""
    assert {name: p.max_nodes for name, p in multi.partitions.items()} == {"batch": 2, "devel": 2}


def test_every_limit_in_the_jsc_profiles_names_its_source() -> None:
    """Each partition's memory, walltime and node limit carries a comment: its source, or why
    there is none (the comment may stand on the line above)."""
    from mfile.codegen.profile import PROFILE_DIR

    for name in ("juwels-booster", "juwels-cluster"):
        lines = (PROFILE_DIR / f"{name}.toml").read_text().splitlines()
        for i, line in enumerate(lines):
            if line.split("=")[0].strip() in ("memory_per_node_mb", "max_time", "max_nodes", "cores_per_node"):
                if line.startswith("cores_per_node"):
                    continue  # the node's make-up is sourced in the header and the partition's comment
                assert "#" in line or lines[i - 1].startswith("#"), f"{name}: {line}"


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
    ('cpu_partition = "c"\n[env]\nSLURM_X = "1"\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "cannot be overridden"),
    ('cpu_partition = "c"\n[env]\nX = "a\\nb"\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "control characters"),
    ('cpu_partition = "c"\n[modules]\nload = ["a; rm -rf /"]\n[partitions.c]\ncores_per_node = 1\nmemory_per_node_mb = 1\nmax_time = "1"\nmax_nodes = 1\n', "need quoting"),
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
