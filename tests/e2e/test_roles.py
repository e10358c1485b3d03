"""`--name` that names a role: create/start/stop/remove/ipam.release act on all of that role's containers,
one after another, in config order (stop and remove in reverse)."""

from __future__ import annotations

import re

import pytest

from .helpers import ipam_json, run_inv, ssh, write_containers

LAB = "b"
APP = [("app1", "host2"), ("app2", "host3"), ("app3", "host1")]


def with_app_role(d: dict) -> None:
    d["roles"].insert(1, {"name": "app", "depends_on": ["dnsmasq"]})
    d["containers"] += [{"name": n, "role": "app", "host": h, "image": "dockstack/base:bookworm"} for n, h in APP]


def order(out: str, pattern: str) -> list[str]:
    """Container names in the order their lines matching `  NAME: <pattern>` appear."""
    return re.findall(rf"^  (app\d): {pattern}", out, re.M)


@pytest.fixture
def app_file(inventory, tmp_path):
    path = write_containers(tmp_path, "with-app.yaml", with_app_role)
    run_inv("create", "--name=dnsmasq", f"--containers-file={path}")
    yield path
    run_inv("remove", "--name=app", f"--containers-file={path}")
    run_inv("ipam.release", "--name=app", f"--containers-file={path}")


def state(inventory, host: str, name: str) -> str:
    return ssh(inventory, host, f"docker inspect -f '{{{{.State.Status}}}}' {name}", check=False).stdout.strip()


def test_a_role_name_acts_on_all_its_containers_in_a_safe_order(inventory, app_file):
    f = f"--containers-file={app_file}"
    out = run_inv("create", "--name=app", f).stdout
    assert "role app: app1, app2, app3, one after another" in out
    assert order(out, r"create on host") == ["app1", "app2", "app3"]
    ips = {n: r["ip"] for n, r in ipam_json().items() if n.startswith("app")}
    assert sorted(ips) == ["app1", "app2", "app3"] and len(set(ips.values())) == 3
    assert all(state(inventory, h, n) == "running" for n, h in APP)

    out = run_inv("stop", "--name=app", f).stdout
    assert "role app: app3, app2, app1, one after another" in out
    assert order(out, r"stopped on host") == ["app3", "app2", "app1"]
    assert all(state(inventory, h, n) == "exited" for n, h in APP)

    out = run_inv("start", "--name=app", f).stdout
    assert order(out, r"start on host") == ["app1", "app2", "app3"]
    assert {n: r["ip"] for n, r in ipam_json().items() if n.startswith("app")} == ips

    out = run_inv("remove", "--name=app", f).stdout
    assert order(out, r"removed from host") == ["app3", "app2", "app1"]
    assert all(state(inventory, h, n) == "" for n, h in APP)

    out = run_inv("ipam.release", "--name=app", f).stdout
    assert sorted(re.findall(r"^(app\d): released ", out, re.M)) == ["app1", "app2", "app3"]
    assert not {n for n in ipam_json() if n.startswith("app")}


def test_a_name_that_is_neither_lists_containers_and_roles(inventory, app_file):
    proc = run_inv("create", "--name=nope", f"--containers-file={app_file}", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: {app_file}: containers: no container or role named 'nope' (containers: dnsmasq, " in proc.stderr
    assert "app1, app2, app3; roles: dnsmasq, app, puppet, haproxy," in proc.stderr
