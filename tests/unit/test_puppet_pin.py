"""The Puppet CA pin and the autosign challenge: the server's policy script run here with the real openssl on
real certificate requests, and the parser of the CA that agents pin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dockstack.errors import DockstackError
from dockstack.services import puppet as puppet_service

CHALLENGE = "Challenge0123456789abcdef"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def request(tmp_path: Path, certname: str, challenge: str | None) -> str:
    """A certificate request as an agent makes it, with challengePassword when given."""
    conf = tmp_path / f"{certname}.cnf"
    attrs = f"[attrs]\nchallengePassword = {challenge}\n" if challenge is not None else "[attrs]\n"
    conf.write_text(f"[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = {certname}\n{attrs}")
    out = subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                          str(tmp_path / f"{certname}.key"), "-config", str(conf)], capture_output=True, text=True,
                         check=True)
    return out.stdout


@pytest.fixture
def policy(tmp_path: Path):
    """autosign.sh in a folder beside a names list, as the server's folder has them, and the challenge file."""
    folder = tmp_path / "dockstack"
    folder.mkdir()
    (folder / "autosign.sh").write_text(puppet_service.AUTOSIGN_SCRIPT)
    (folder / "autosign.conf").write_text("# the list\nweb.lab\ndb.lab\n")
    secret = tmp_path / "challenge"
    secret.write_text(CHALLENGE)  # as the container's secret file holds it: the value, no newline

    def sign(certname: str, csr: str, secret_file: Path = secret) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(folder / "autosign.sh"), certname, str(secret_file)], input=csr,
                              capture_output=True, text=True, timeout=30)
    return sign


def test_a_listed_name_with_the_challenge_is_signed(tmp_path, policy):
    proc = policy("web.lab", request(tmp_path, "web.lab", CHALLENGE))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("certname", "challenge", "said"), [
    ("web.lab", None, "does not carry the stack's challengePassword"),
    ("web.lab", "WrongChallenge0123456789", "does not carry the stack's challengePassword"),
    ("web.lab", CHALLENGE + "x", "does not carry the stack's challengePassword"),
    ("intruder.lab", CHALLENGE, "is not on the stack's list"),
    ("web.la", CHALLENGE, "is not on the stack's list"),  # whole names only
    ("# the list", CHALLENGE, "is no DNS name"),
    ("", CHALLENGE, "is no DNS name"),
])
def test_anything_else_waits_for_an_operator(tmp_path, policy, certname, challenge, said):
    proc = policy(certname, request(tmp_path, "x", challenge))
    assert proc.returncode != 0 and said in proc.stderr


def test_no_challenge_file_signs_nothing(tmp_path, policy):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for secret in (empty, tmp_path / "missing"):
        proc = policy("web.lab", request(tmp_path, "web.lab", CHALLENGE), secret)
        assert proc.returncode != 0 and "no challenge in" in proc.stderr


def test_a_challenge_file_ending_in_a_newline_signs_too(tmp_path, policy):
    secret = tmp_path / "with-newline"
    secret.write_text(CHALLENGE + "\n")
    assert policy("web.lab", request(tmp_path, "web.lab", CHALLENGE), secret).returncode == 0


def test_the_challenge_is_a_generated_secret_file_of_the_puppet_service():
    assert puppet_service.SERVICE.secret_files == (puppet_service.CHALLENGE,)
    assert f"/run/secrets/{puppet_service.CHALLENGE[1]}" == puppet_service.CHALLENGE_FILE
    assert puppet_service.CHALLENGE_FILE in puppet_service.SERVICE.command  # what the autosign wrapper reads


# --- the CA agents pin -----------------------------------------------------------------------------------------

def ca_pem(tmp_path: Path, n: int = 1) -> str:
    pems = []
    for i in range(n):
        out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                              str(tmp_path / f"ca{i}.key"), "-subj", f"/CN=Puppet CA {i}", "-days", "1"],
                             capture_output=True, text=True, check=True)
        pems.append(out.stdout)
    return "".join(pems)


def test_the_ca_read_from_the_server_is_pinned_as_it_is(tmp_path, container):
    server = container("puppet", role="puppet")
    for n in (1, 2):  # a root, or a root and an intermediate
        text = ca_pem(tmp_path, n)
        assert puppet_service.parse_ca(server, text) == text.rstrip("\n")
    assert puppet_service.ca_argv(server) == ["docker", "exec", "puppet", "cat", puppet_service.CA_FILE]


@pytest.mark.parametrize("text", ["", "cat: /etc/puppet/puppetserver/ca/ca_crt.pem: No such file or directory\n",
                                  "-----BEGIN CERTIFICATE-----\nMII$(id)\n-----END CERTIFICATE-----\n",
                                  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nextra\n",
                                  "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"])
def test_anything_but_pem_certificates_is_refused_naming_the_server(container, text):
    with pytest.raises(DockstackError, match=r"puppet on host1: .* holds no PEM CA certificate"):
        puppet_service.parse_ca(container("puppet", role="puppet"), text)
