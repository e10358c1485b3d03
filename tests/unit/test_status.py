"""dockstack.status: the plain-text tables (pure formatting only)."""

from __future__ import annotations

import pytest

from dockstack.facts import ContainerState, HostFacts
from dockstack.health import CheckResult
from dockstack.status import (
    ContainerRow,
    IpamRow,
    LabRow,
    format_containers,
    format_ipam,
    format_lab,
    rows_of,
    table,
)


def test_table_aligns_columns_with_two_spaces():
    out = table(["A", "LONGHEADER", "C"], [["xxxxx", "y", "z"], ["u", "v", "wwww"]])
    assert out.splitlines() == [
        "A      LONGHEADER  C",
        "xxxxx  y           z",
        "u      v           wwww",
    ]


def test_table_strips_trailing_spaces():
    out = table(["NAME", "NOTE"], [["a", ""], ["bbbbbb", "x"]])
    lines = out.splitlines()
    assert lines == ["NAME    NOTE", "a", "bbbbbb  x"]
    assert all(line == line.rstrip() for line in lines)


def test_table_headers_only():
    assert table(["ONE", "TWO"], []) == "ONE  TWO"


def test_table_stringifies_values():
    assert table(["N"], [[5], [None]]).splitlines() == ["N", "5", "None"]


def row(name, mac="02:00:0a:64:00:02", ip="10.100.0.2", source="static", state="running", host="host1"):
    return IpamRow(name=name, role=name, host=host, mac=mac, ip=ip,
                   fqdn=f"{name}.dockstack.lab" if ip else "", source=source, state=state)


def test_format_ipam_headers_and_rows():
    out = format_ipam([row("dnsmasq"), row("web", mac="02:42:ac:11:00:05", ip="10.100.0.105", source="lease",
                                           state="stopped", host="host2")])
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "HOST", "MAC", "IP", "FQDN", "SOURCE", "STATE"]
    assert lines[1].split() == ["dnsmasq", "dnsmasq", "host1", "02:00:0a:64:00:02", "10.100.0.2",
                                "dnsmasq.dockstack.lab", "static", "running"]
    assert lines[2].split() == ["web", "web", "host2", "02:42:ac:11:00:05", "10.100.0.105", "web.dockstack.lab",
                                "lease", "stopped"]
    # every column starts at the same offset in every line
    for col in ("ROLE", "MAC", "IP", "STATE"):
        start = lines[0].index(col)
        assert lines[1][start - 2:start] == "  " and lines[1][start] != " "
        assert lines[2][start - 2:start] == "  " and lines[2][start] != " "


def test_format_ipam_dashes_for_missing_address():
    out = format_ipam([row("puppet", mac="", ip="", source="", state="absent")])
    assert out.splitlines()[1].split() == ["puppet", "puppet", "host1", "-", "-", "-", "-", "absent"]


def test_format_ipam_empty():
    assert format_ipam([]) == "NAME  ROLE  HOST  MAC  IP  FQDN  SOURCE  STATE"


def test_ipam_row_as_dict():
    r = row("dnsmasq")
    assert r.as_dict() == {"name": "dnsmasq", "role": "dnsmasq", "host": "host1", "mac": "02:00:0a:64:00:02",
                           "ip": "10.100.0.2", "fqdn": "dnsmasq.dockstack.lab", "source": "static",
                           "state": "running"}


def test_format_lab():
    rows = [LabRow("host1", "10.99.0.11", True, True, {"dockstack/base:bookworm": True}),
            LabRow("host2", "10.99.0.12", False, False, {"dockstack/base:bookworm": False}),
            LabRow("host3", "10.99.0.13", True, False, {})]
    lines = format_lab(rows).splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "SSHD", "DOCKERD", "IMAGES"]
    assert lines[1].split() == ["host1", "10.99.0.11", "up", "up", "dockstack/base:bookworm", "present"]
    assert lines[2].split() == ["host2", "10.99.0.12", "DOWN", "DOWN", "dockstack/base:bookworm", "MISSING"]
    assert lines[3].split() == ["host3", "10.99.0.13", "up", "DOWN", "-"]


# --- status: containers with their health -------------------------------------------------------------------------


def state(name: str, running: bool = True) -> ContainerState:
    return ContainerState(name=name, running=running, pid=100 if running else 0, image="test/base:bookworm",
                          image_id="sha256:1", labels={})


def host_facts(*states: ContainerState, ips: dict[str, str] | None = None) -> HostFacts:
    return HostFacts(containers={s.name: s for s in states},
                     addresses={s.name: ("02:00:00:00:00:01", (ips or {}).get(s.name)) for s in states}, images={})


@pytest.fixture
def health_stack(cfg):
    """dnsmasq (checked), app (no check: no service), web and db (checked), secret env on web."""
    cfg.containers["roles"][0]["check"] = "pgrep -x dnsmasq"
    cfg.containers["roles"].append({"name": "web", "check": "curl -sf http://127.0.0.1/"})
    cfg.containers["containers"] += [
        {"name": "web1", "role": "web", "host": "h2", "image": "test/base:bookworm",
         "env": {"DB_PASSWORD": "hunter2-hunter2"}},
        {"name": "web2", "role": "web", "host": "h1", "image": "test/base:bookworm"},
        {"name": "web3", "role": "web", "host": "h1", "image": "test/base:bookworm"}]
    return cfg.load()[1]


def test_rows_carry_each_containers_health(health_stack):
    hosts = {"h1": host_facts(state("dns"), state("web2", running=False), ips={"dns": "10.100.0.2"}),
             "h2": host_facts(state("app1"), state("web1"), state("web3"), ips={"web1": "10.100.0.101"})}
    checked = {"h1": {"dns": CheckResult(0, "42")},
               "h2": {"web1": CheckResult(7, "curl: (7) refused; DB_PASSWORD=hunter2-hunter2\x1b[0m"),
                      "web3": CheckResult(0, "")}}
    rows = {r.name: r for r in rows_of(health_stack, hosts, checked, 5.0)}
    assert (rows["dns"].health, rows["dns"].health_detail, rows["dns"].ip) == ("pass", "", "10.100.0.2")
    assert (rows["app1"].health, rows["app1"].health_detail) == ("no service", "")
    assert rows["web1"].health == "fail"
    assert rows["web1"].health_detail == "curl: (7) refused; DB_PASSWORD=***?[0m"
    assert (rows["web2"].state, rows["web2"].health) == ("stopped", "none")
    # found running on another host than its configured one: shown, and checked, where it is
    assert (rows["web3"].host, rows["web3"].state, rows["web3"].health) == ("h2", "running", "pass")
    assert [r.name for r in rows_of(health_stack, hosts, checked, 5.0)] == ["dns", "app1", "web1", "web2", "web3"]


def test_rows_of_absent_containers_and_unchecked_running_ones(health_stack):
    hosts = {"h1": host_facts(state("dns")), "h2": host_facts()}
    rows = {r.name: r for r in rows_of(health_stack, hosts, {}, 5.0)}
    assert (rows["web1"].state, rows["web1"].health, rows["web1"].ip) == ("absent", "none", "")
    assert (rows["app1"].state, rows["app1"].health) == ("absent", "none")
    # running in the facts, but its host ran no check for it (it stopped in between)
    assert (rows["dns"].health, rows["dns"].health_detail) == ("none", "not checked: not running when the checks ran")


def crow(name: str, health: str, detail: str = "", state: str = "running", ip: str = "10.100.0.5") -> ContainerRow:
    return ContainerRow(name, name, "host1", state, ip, "dockstack/base:bookworm", health, detail)


def test_format_containers_puts_health_last():
    out = format_containers([crow("haproxy", "pass"), crow("webui", "no service"),
                             crow("dnsmasq", "fail", "dnsmasq is gone"),
                             crow("galera", "none", state="stopped", ip="")])
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "HOST", "STATE", "IP", "IMAGE", "HEALTH"]
    assert lines[1].split() == ["haproxy", "haproxy", "host1", "running", "10.100.0.5", "dockstack/base:bookworm",
                                "pass"]
    assert lines[2].endswith("  no service")
    assert lines[3].endswith("  fail: dnsmasq is gone")
    assert lines[4].split() == ["galera", "galera", "host1", "stopped", "-", "dockstack/base:bookworm", "none"]
    start = lines[0].index("HEALTH")
    assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines)


def test_container_row_as_dict_keeps_the_old_keys_and_adds_health():
    assert crow("dnsmasq", "fail", "dnsmasq is gone").as_dict() == {
        "name": "dnsmasq", "role": "dnsmasq", "host": "host1", "state": "running", "ip": "10.100.0.5",
        "image": "dockstack/base:bookworm", "health": "fail", "health_detail": "dnsmasq is gone", "problem": ""}


def test_a_state_file_the_facts_refused_is_named_under_the_table(health_stack):
    """A container whose state file its host did not read (a FIFO its container planted, say): its row carries
    why, and the table is followed by a warning naming it and its host; the others' rows are as they were."""
    facts_h1 = host_facts(state("dns"), state("web2"))
    facts_h1 = HostFacts(facts_h1.containers, facts_h1.addresses, {},
                         state_problems={"web2": "data/grastate.dat is a FIFO, not a regular file: not read"})
    rows = rows_of(health_stack, {"h1": facts_h1, "h2": host_facts(state("app1"))}, {}, 5.0)
    by_name = {r.name: r for r in rows}
    assert by_name["web2"].problem == "its state file data/grastate.dat is a FIFO, not a regular file: not read"
    assert all(r.problem == "" for r in rows if r.name != "web2")
    lines = format_containers(rows).splitlines()
    assert lines[-1] == ("warning: web2 on h1: its state file data/grastate.dat is a FIFO, not a regular file: not "
                         "read (its container can write there)")
    assert len(lines) == 1 + len(rows) + 1
