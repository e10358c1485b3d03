"""Config files the Invoke way: --hosts-file/--containers-file, else invoke.yaml's `dockstack:` section or
INVOKE_DOCKSTACK_*, else the repository's files. Checked through the real CLI: a missing file is reported
before any host is contacted, which shows which path was chosen."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from dockstack.config import ROOT

INV = ROOT / ".venv" / "bin" / "inv"


def inv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_DOCKSTACK_")}
    return subprocess.run([str(INV), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**clean, **(env or {})})


def test_environment_names_the_containers_file(tmp_path):
    missing = tmp_path / "from-env.yaml"
    proc = inv("status", env={"INVOKE_DOCKSTACK_CONTAINERS_FILE": str(missing)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr


def test_environment_names_the_hosts_file(tmp_path):
    missing = tmp_path / "hosts-from-env.yaml"
    proc = inv("lab.status", env={"INVOKE_DOCKSTACK_HOSTS_FILE": str(missing)})
    assert proc.returncode == 1 and str(missing) in proc.stderr


def test_the_flag_wins_over_the_environment(tmp_path):
    flag, env = tmp_path / "flag.yaml", tmp_path / "env.yaml"
    proc = inv("status", f"--containers-file={flag}", env={"INVOKE_DOCKSTACK_CONTAINERS_FILE": str(env)})
    assert proc.returncode == 1 and str(flag) in proc.stderr and str(env) not in proc.stderr


def test_an_invoke_config_file_names_them(tmp_path):
    missing = tmp_path / "from-invoke-yaml.yaml"
    config = tmp_path / "invoke.yaml"
    config.write_text(f"dockstack:\n  hosts_file: {missing}\n")
    proc = inv("-f", str(config), "ipam.show")
    assert proc.returncode == 1 and str(missing) in proc.stderr


def test_help_says_where_defaults_come_from():
    out = inv("--help", "deploy-all").stdout
    assert "INVOKE_DOCKSTACK_HOSTS_FILE" in out and "INVOKE_DOCKSTACK_CONTAINERS_FILE" in out


def test_an_empty_path_flag_is_refused_not_replaced_by_the_repositorys_file():
    for flag in ("--hosts-file=", "--containers-file="):
        proc = inv("status", flag)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"error: {flag[:-1]} is empty: give the path of the file" in proc.stderr


@pytest.mark.parametrize("name", ["../../etc", "-rf", "a b", "Galera1"])
def test_ipam_release_refuses_what_is_no_container_name_before_any_host(tmp_path, name):
    data = yaml.safe_load((ROOT / "hosts.yaml").read_text())
    data.pop("lab", None)
    for h in data["hosts"]:
        h.update(address="127.0.0.1", port=1)  # nothing listens: the refusal must come first
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(data))
    # a copy of the shipped stack: its generated passwords are written beside it, never into the checkout
    containers = tmp_path / "containers.yaml"
    containers.write_text((ROOT / "containers.yaml").read_text())
    proc = inv("ipam.release", f"--name={name}", f"--hosts-file={hosts}", f"--containers-file={containers}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: --name {name!r} is not a container name" in proc.stderr, proc.stderr
