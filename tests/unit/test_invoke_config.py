"""Config files the Invoke way: --hosts-file/--containers-file, else invoke.yaml's `dockstack:` section or
INVOKE_DOCKSTACK_*, else the repository's files. Checked through the real CLI: a missing file is reported
before any host is contacted, which shows which path was chosen."""

from __future__ import annotations

import os
import subprocess

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
