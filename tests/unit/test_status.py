"""dockstack.status: the plain-text tables (pure formatting only)."""

from __future__ import annotations

from dockstack.status import IpamRow, LabRow, format_ipam, format_lab, table


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
