"""The dnsmasq definition's readiness check: a DNS question answered from its own dnsmasq.conf (busybox's nslookup
in its image), not `pgrep`: a dnsmasq stopped with SIGSTOP runs, and answers nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dockstack import ipam
from dockstack.services import dnsmasq
from dockstack.services.base import Context
from dockstack.services.registry import DEFINITIONS

# what bookworm's busybox nslookup prints (seen against dnsmasq 2.90 in a scratch network namespace)
ANSWERED = 'Server:\t\t127.0.0.1\nAddress:\t127.0.0.1:53\n\ndockstack-check\ttext = "answering"\n\n'
TIMED_OUT = ";; connection timed out; no servers could be reached\n\n"
REFUSED = "Server:\t\t127.0.0.1\nAddress:\t127.0.0.1:53\n\n** server can't find dockstack-check.: REFUSED\n\n"


def test_the_definition_asks_its_check_script_which_it_renders_and_digests(shipped_stack, shipped_inventory):
    d = DEFINITIONS["dnsmasq"]
    assert d.check == f"sh {dnsmasq.MOUNT}/check" and "pgrep" not in d.check
    c = shipped_stack.container("dnsmasq")
    ctx = Context(shipped_stack, shipped_inventory.network, ("10.100.0.2",), DEFINITIONS)
    files = d.files(ctx, c)
    # a start file: part of its spec, so a new one re-creates the container
    assert files["check"] == dnsmasq.render_check() == d.start_files(c)["check"]
    # restart_on_change compares every file it renders with the host's digests: each must be digested, or every
    # deploy-all would restart dnsmasq
    assert d.restart_on_change and set(files) == set(d.digested)
    name, text = dnsmasq.ANSWER
    assert f"txt-record={name},{text}" in files["dnsmasq.conf"].splitlines()


def test_the_record_it_asks_for_is_one_label_so_never_forwarded(net, container):
    """domain-needed keeps a name of one label local even when upstream servers are configured."""
    name, _ = dnsmasq.ANSWER
    assert "." not in name
    lines = ipam.render_dnsmasq_conf(net, container("dns", mac="02:00:0a:64:00:02", ip="10.100.0.2"),
                                     ["10.100.0.2"], answer=dnsmasq.ANSWER).splitlines()
    assert "domain-needed" in lines and f"txt-record={name},{dnsmasq.ANSWER[1]}" in lines
    assert not any(line.startswith("txt-record=") for line in ipam.render_dnsmasq_conf(
        net, container("dns", mac="02:00:0a:64:00:02", ip="10.100.0.2"), ["10.100.0.2"]).splitlines())


def run_check(tmp_path: Path, says: str, code: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The rendered check with a fake busybox on PATH that prints `says`, exits `code` and records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    args, out = tmp_path / "args", tmp_path / "says"
    out.write_text(says)
    fake = bin_dir / "busybox"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {args}\ncat {out}\nexit {code}\n')
    fake.chmod(0o755)
    script = tmp_path / "check"
    script.write_text(dnsmasq.render_check())
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=10,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return proc, args.read_text().splitlines()


def test_check_passes_only_on_the_records_answer_within_its_bound(tmp_path):
    proc, argv = run_check(tmp_path, ANSWERED, 0)
    assert proc.returncode == 0 and proc.stdout == "answers DNS\n"
    bound = dnsmasq.ANSWER_BOUND
    # asked of dnsmasq itself on loopback, the name absolute (no search domain), within the bound
    assert argv == ["nslookup", "-type=txt", f"-timeout={bound}", f"-retry={bound}", "dockstack-check.", "127.0.0.1"]


def test_check_fails_saying_why_when_dnsmasq_answers_nothing_or_not_the_record(tmp_path):
    proc, _ = run_check(tmp_path, TIMED_OUT, 1)  # a dnsmasq stopped with SIGSTOP
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == ("no answer to the TXT question dockstack-check from dnsmasq on 127.0.0.1 "
                                            f"within {dnsmasq.ANSWER_BOUND} s: ;; connection timed out; no servers "
                                            "could be reached")
    proc, _ = run_check(tmp_path, REFUSED, 1)  # a dnsmasq.conf without the record
    assert proc.returncode == 1 and proc.stdout.rstrip().endswith("** server can't find dockstack-check.: REFUSED")
    proc, _ = run_check(tmp_path, "", 0)  # exit 0 without the record's text (busybox says 0 on no data) fails too
    assert proc.returncode == 1 and proc.stdout.rstrip().endswith(": no output")
