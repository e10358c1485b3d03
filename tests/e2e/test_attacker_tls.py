"""Nothing mints a CA behind the operator's back (issue 30, probe 4): with the shipped stack's TLS folder
(`containers.tls/`) moved away, `inv stop --name=webui` used to make a new CA, push haproxy a certificate of it and
reload haproxy, so the VIP served a certificate no client trusts. Now every command that could publish one refuses,
naming the folder, and the VIP keeps its certificate; a CA key open to others is refused on every load; and the
openstack container's clients trust the stack's CA file alone (admin-openrc's OS_CACERT, keystone_authtoken's cafile,
horizon's OPENSTACK_SSL_CACERT), not the system bundle.

Runs on the stack shipped_from_empty deployed (REAL_STACK_MODULES); every command it runs is refused or only reads,
and the folder is put back whatever happens.
"""

from __future__ import annotations

import shlex

import pytest

from dockstack.config import DEFAULT_CONTAINERS_FILE, Stack, tls
from dockstack.services import SERVICE_ROOT

from .helpers import Deployed, run_inv, ssh

LAB = "main"
SHIPPED = DEFAULT_CONTAINERS_FILE  # the suite's default containers file is the engine stack's (conftest)
FOLDER = tls.tls_dir_for(SHIPPED)
# the commands of the probe, each on a container or the whole stack: each would publish haproxy's files
REFUSED = (["stop", "--name=webui"], ["remove", "--name=webui"], ["start", "--name=webui"], ["create", "--name=webui"],
           ["deploy-all", "--dry-run"], ["deploy-all"])

# In the openstack container: the SHA-256 of the certificate a TLS server serves (argv: host, port), as a client on the
# container segment gets it, unverified (the point is which certificate it is, whoever signed it).
FINGERPRINT_PROBE = r"""
import hashlib, ssl, sys
pem = ssl.get_server_certificate((sys.argv[1], int(sys.argv[2])), timeout=20)
print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest())
"""


@pytest.fixture(scope="module")
def stack(shipped_from_empty: Deployed) -> Stack:
    assert "0 failed" in shipped_from_empty.out, shipped_from_empty.out
    return shipped_from_empty.stack


def served_fingerprint(stack: Stack, inventory, port: int = 443) -> str:
    """The fingerprint of the certificate the VIP serves on port, read from the openstack container."""
    c = stack.container("openstack")
    vip = stack.role("haproxy").vip
    assert vip is not None
    name = f"{vip.name}.{inventory.network.domain}"
    out = ssh(inventory, c.host, f"docker exec {c.name} python3 -c {shlex.quote(FINGERPRINT_PROBE)} {name} {port}")
    return out.stdout.strip()


def balancer_files(stack: Stack, inventory) -> dict[str, str]:
    """Each haproxy container's tls.pem digest on its host: what a push would replace."""
    return {c.name: ssh(inventory, c.host, f"sha256sum {SERVICE_ROOT}/haproxy/{c.name}/{tls.SERVED_FILE}").stdout
            for c in stack.containers if c.definition and c.definition.provides_vip}


def containers_on_hosts(inventory) -> dict[str, str]:
    """host -> every container there, with its ID and state: what a stop, remove or create alters."""
    return {h.name: ssh(inventory, h.name, "docker ps -a --no-trunc --format '{{.Names}} {{.ID}} {{.State}}' "
                                           "| sort").stdout for h in inventory.hosts}


def test_without_its_tls_folder_no_command_changes_the_certificate_the_vip_serves(stack, inventory, tmp_path):
    """stop, remove, start, create and deploy-all (its dry run too) each exit 1 naming the folder and the fix; the
    VIP serves the same certificate, no haproxy got a new tls.pem, no container changed, no folder was made; put
    back, the stack reads as it was."""
    assert (FOLDER / tls.CA_FILE).is_file(), FOLDER  # the deploy from empty made and kept it
    fingerprint, files, containers = (served_fingerprint(stack, inventory), balancer_files(stack, inventory),
                                      containers_on_hosts(inventory))
    assert len(fingerprint) == 64 and len(files) == 2, (fingerprint, files)
    kept = FOLDER.rename(tmp_path / "kept.tls")
    try:
        for args in REFUSED:
            proc = run_inv(*args, containers=SHIPPED, check=False)
            said = proc.stdout + proc.stderr
            assert proc.returncode == 1, (args, said)
            assert f"error: {FOLDER}: the stack's CA (ca.crt, ca.key) is missing, but the stack is deployed (" \
                in proc.stderr, (args, proc.stderr)
            assert f"restore the folder from your backup to {FOLDER}" in proc.stderr, (args, proc.stderr)
            assert "`inv tls.init`" in proc.stderr and "Nothing was changed" in proc.stderr, (args, proc.stderr)
            assert "Traceback" not in said and "updated" not in proc.stdout and "written" not in proc.stdout, \
                (args, said)
            assert not FOLDER.exists(), args  # no new CA saved
        assert served_fingerprint(stack, inventory) == fingerprint
        assert balancer_files(stack, inventory) == files
        assert containers_on_hosts(inventory) == containers
    finally:
        if not FOLDER.exists():
            kept.rename(FOLDER)
    proc = run_inv("deploy-all", "--dry-run", containers=SHIPPED)  # reads the folder back: accepted, changes nothing
    assert "deploy-all --dry-run: the plan" in proc.stdout, proc.stdout
    assert served_fingerprint(stack, inventory) == fingerprint
    assert containers_on_hosts(inventory) == containers


def test_a_ca_key_open_to_others_is_refused_on_every_load_before_any_host_is_asked(stack, inventory):
    key = FOLDER / tls.CA_KEY
    mode = key.stat().st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)  # as the first deploy wrote it
    try:
        key.chmod(0o644)
        for args in (["status"], ["ipam.show"], ["stop", "--name=webui"]):
            proc = run_inv(*args, containers=SHIPPED, check=False)
            assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
            assert f"error: {key}: (file): mode 0644 lets users other than its owner read or replace the stack's " \
                "keys" in proc.stderr, (args, proc.stderr)
            assert f"(chmod 600 {key})" in proc.stderr and proc.stdout == "", (args, proc.stdout, proc.stderr)
    finally:
        key.chmod(mode)
    run_inv("status", containers=SHIPPED)  # put right: accepted again


def test_the_openstack_containers_clients_trust_the_stacks_ca_file_alone(stack, inventory):
    """The file profile::trust writes is the operator's ca.crt; admin-openrc, every service's keystone_authtoken (and
    nova's own logins to placement and neutron) and horizon name that file, never the system bundle."""
    c = stack.container("openstack")

    def inside(command: str) -> str:
        return ssh(inventory, c.host, f"docker exec {c.name} bash -c {shlex.quote(command)}").stdout

    assert inside(f"cat {tls.CONTAINER_CA_FILE}") == (FOLDER / tls.CA_FILE).read_text()
    assert inside(". /root/admin-openrc && echo $OS_CACERT").strip() == tls.CONTAINER_CA_FILE
    pinned = f"cafile = {tls.CONTAINER_CA_FILE}"
    for service, sections in (("glance", 1), ("placement", 1), ("neutron", 1), ("cinder", 1), ("nova", 3)):
        text = inside(f"cat /etc/{service}/{service}.conf.d/50-dockstack.conf")
        assert text.count(pinned) == sections, (service, text)
    horizon = inside("cat /etc/openstack-dashboard/local_settings.d/_50_dockstack.py")
    assert f'OPENSTACK_SSL_CACERT = "{tls.CONTAINER_CA_FILE}"' in horizon, horizon
    token = inside(". /root/admin-openrc && openstack token issue -f value -c id")  # verified against that file alone
    assert token.startswith("gAAAAA"), token
