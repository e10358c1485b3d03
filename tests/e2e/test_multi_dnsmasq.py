"""Several dnsmasq containers: all get the same files, and each answers for every container."""

from __future__ import annotations

import json

from .helpers import book_files, docker_exec, ipam_json, run_inv, wipe_stack, write_containers

LAB = "b"


def test_every_dnsmasq_gets_the_same_files_and_answers(inventory, remotes, tmp_path):
    wipe_stack(remotes)

    def second(d):
        d["containers"].insert(1, {"name": "dnsmasq2", "role": "dnsmasq", "host": "host3",
                                   "image": "dockstack/base:bookworm", "mac": "02:00:0a:64:00:03",
                                   "ip": "10.100.0.3"})
    path = write_containers(tmp_path, "two.yaml", second)
    for name in ("dnsmasq", "dnsmasq2", "galera"):
        run_inv("create", f"--name={name}", f"--containers-file={path}")
    first = book_files(inventory, "host1", "dnsmasq")
    other = book_files(inventory, "host3", "dnsmasq2")
    assert first == other
    galera_ip = next(r for r in json.loads(
        run_inv("ipam.show", "--json", f"--containers-file={path}").stdout) if r["name"] == "galera")["ip"]
    assert f"{galera_ip} galera.dockstack.lab galera" in first["hosts.d"]
    # each dnsmasq answers from its own copy (a dnsmasq container resolves through itself)
    for host, name in (("host1", "dnsmasq"), ("host3", "dnsmasq2")):
        assert docker_exec(inventory, host, name, "getent hosts galera.dockstack.lab").split()[0] == galera_ip
    # containers are told about both servers
    resolv = docker_exec(inventory, "host2", "galera", "cat /etc/resolv.conf")
    assert "nameserver 10.100.0.2" in resolv and "nameserver 10.100.0.3" in resolv
    run_inv("remove", "--name=dnsmasq2", f"--containers-file={path}")
    wipe_stack(remotes)
    assert ipam_json()["dnsmasq"]["state"] == "absent"
