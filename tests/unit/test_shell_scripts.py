"""dockstack/scripts: every shipped remote shell script is shellcheck clean, says what it is, and is the text its
module sends (each is also run against fake binaries, in the tests of its module)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import dockstack.scripts
from dockstack import (
    actions,
    addressbook,
    agent,
    facts,
    guestimage,
    health,
    images,
    ipam,
    network,
    remote,
)
from dockstack.scripts import script
from dockstack.services import puppet as puppet_service
from dockstack.services.galera import backup as galera_backup
from dockstack.services.galera import bootstrap as galera_bootstrap

SCRIPTS_DIR = Path(dockstack.scripts.__file__).parent
SHIPPED = sorted(p.name for p in SCRIPTS_DIR.glob("*.sh"))

# file -> (the constant sent, the shell that runs it)
CONSTANTS = {
    "action.sh": (actions.ACTION_SCRIPT, "sh"),
    "dhcp_hook.sh": (actions.DHCP_HOOK, "sh"),
    "agent.sh": (agent.AGENT_SCRIPT, "sh"),
    "txn.sh": (addressbook.TXN_SCRIPT, "sh"),
    "host_facts.sh": (facts.HOST_FACTS_SCRIPT, "sh"),
    "galera_recover.sh": (galera_bootstrap.RECOVER_SCRIPT, "sh"),
    "galera_backup.sh": (galera_backup.BACKUP_SCRIPT, "sh"),
    "galera_restore.sh": (galera_backup.RESTORE_SCRIPT, "sh"),
    "galera_swap.sh": (galera_backup.SWAP_SCRIPT, "sh"),
    "health.sh": (health.HEALTH_SCRIPT, "sh"),
    "apt.sh": (images.APT_SCRIPT, "bash"),
    "guest_debs.sh": (guestimage.GUEST_DEBS_SCRIPT, "bash"),
    "host_network.sh": (network.HOST_NETWORK_SCRIPT, "sh"),
    "read_files.sh": (remote.READ_FILES_SCRIPT, "sh"),
    "put_files.sh": (remote.PUT_FILES_SCRIPT, "sh"),
    "service_files.sh": (actions.SERVICE_FILES_SCRIPT, "sh"),
    "stop.sh": (actions.STOP_SCRIPT, "sh"),
    "puppetserver.sh": (puppet_service.SERVER_SCRIPT, "sh"),
    "autosign.sh": (puppet_service.AUTOSIGN_SCRIPT, "sh"),
    "puppet_forget.sh": (puppet_service.FORGET_SCRIPT, "sh"),
}


def test_shellcheck_passes_on_every_shipped_script():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck): the shipped scripts are not linted")
    # --norc: no ~/.shellcheckrc of whoever runs the tests turns checks off; default severity (style and up)
    proc = subprocess.run(["shellcheck", "--norc", *SHIPPED], cwd=SCRIPTS_DIR, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"shellcheck found problems in dockstack/scripts:\n{proc.stdout}{proc.stderr}"


def test_every_shipped_script_is_a_module_constant_and_nothing_else_ships():
    assert sorted(CONSTANTS) == SHIPPED


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_the_constant_is_the_files_text(name):
    sent, _ = CONSTANTS[name]
    text = (SCRIPTS_DIR / name).read_text()
    if name == "txn.sh":  # the quarantine's size is put in at import
        assert text.count('"$QUARANTINE"') == 2
        text = text.replace('"$QUARANTINE"', str(ipam.QUARANTINE))
    assert sent == text
    assert script(name) is script(name)  # read once


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_every_script_starts_with_its_shell_and_says_how_it_is_called_and_what_it_prints(name):
    _, shell = CONSTANTS[name]
    lines = (SCRIPTS_DIR / name).read_text().splitlines()
    assert lines[0] == f"#!/bin/{shell}"
    header = []
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        header.append(line)
    said = "\n".join(header)
    assert said.startswith("# ") and "Called as" in said and "Prints" in said, said


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_every_shellcheck_directive_gives_its_reason(name):
    for line in (SCRIPTS_DIR / name).read_text().splitlines():
        if "shellcheck " in line:
            assert re.fullmatch(r"\s*# shellcheck disable=SC\d{4}(,SC\d{4})*  # \S.*", line), line


def test_a_missing_script_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match=r"dockstack/scripts/nosuch\.sh is missing"):
        script("nosuch.sh")
    with pytest.raises(ValueError, match="not the file name of a script"):
        script("../__init__.py")
