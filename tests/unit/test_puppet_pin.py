"""The Puppet CA pin and the autosign challenges: the server's policy script run here with the real openssl on
real certificate requests (each name's challenge as dockstack derives it), the parser of the CA that agents pin,
and the forget of a name's certificate before a new container's agent asks (with fake curl and CA CLI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dockstack.errors import DockstackError
from dockstack.services import puppet as puppet_service

SECRET = "StackSecret23456789abcdefghijkmn"  # the stack's, as the secrets file holds it (32 letters and digits)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def request(tmp_path: Path, certname: str, challenge: str | None) -> str:
    """A certificate request as an agent makes it, with challengePassword when given (an EC key: the policy reads
    the attribute only, and an RSA key takes a while to make)."""
    conf = tmp_path / f"{certname}.cnf"
    attrs = f"[attrs]\nchallengePassword = {challenge}\n" if challenge is not None else "[attrs]\n"
    conf.write_text(f"[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = {certname}\n{attrs}")
    out = subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                          "-nodes", "-keyout",
                          str(tmp_path / f"{certname}.key"), "-config", str(conf)], capture_output=True, text=True,
                         check=True)
    return out.stdout


@pytest.fixture
def policy(tmp_path: Path):
    """autosign.sh in a folder beside a names list, as the server's folder has them, and the secret's file."""
    folder = tmp_path / "dockstack"
    folder.mkdir()
    (folder / "autosign.sh").write_text(puppet_service.AUTOSIGN_SCRIPT)
    (folder / "autosign.conf").write_text("# the list\nweb.lab\ndb.lab\n")
    secret = tmp_path / "challenge"
    secret.write_text(SECRET)  # as the container's secret file holds it: the value, no newline

    def sign(certname: str, csr: str, secret_file: Path = secret) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(folder / "autosign.sh"), certname, str(secret_file)], input=csr,
                              capture_output=True, text=True, timeout=30)
    return sign


def own(certname: str, secret: str = SECRET) -> str:
    """The challenge dockstack hands certname's agent."""
    return puppet_service.derive_challenge(secret, certname)


def test_a_listed_name_with_its_own_challenge_is_signed(tmp_path, policy):
    proc = policy("web.lab", request(tmp_path, "web.lab", own("web.lab")))
    assert proc.returncode == 0, proc.stderr


def test_the_challenge_is_hmac_sha256_of_the_certname_under_the_stacks_secret():
    import hashlib
    import hmac
    assert own("web.lab") == hmac.new(SECRET.encode(), b"web.lab", hashlib.sha256).hexdigest()
    assert own("web.lab") != own("db.lab") and own("web.lab") != own("web.lab", SECRET + "x")
    assert len(own("web.lab")) == 64 and own("web.lab").isalnum()  # what agent.sh takes on its standard input


@pytest.mark.parametrize("secret", ["a", "0" * 31, "Zz9" * 21 + "Q", "q" * 64])  # 1 to 64 bytes: one SHA-256 block
def test_the_server_derives_what_dockstack_derives_for_any_secret(tmp_path, policy, secret):
    secret_file = tmp_path / "other-secret"
    secret_file.write_text(secret + "\n")
    for name in ("web.lab", "db.lab"):
        proc = policy(name, request(tmp_path, name, own(name, secret)), secret_file)
        assert proc.returncode == 0, (secret, name, proc.stderr)
    proc = policy("web.lab", request(tmp_path, "web.lab", own("web.lab")), secret_file)  # the stack's: not this
    assert proc.returncode != 0 and "own challengePassword" in proc.stderr


@pytest.mark.parametrize(("certname", "challenge", "said"), [
    ("web.lab", None, "does not carry that name's own challengePassword"),
    ("web.lab", own("db.lab"), "does not carry that name's own challengePassword"),  # another agent's
    ("web.lab", SECRET, "does not carry that name's own challengePassword"),  # the stack's secret itself
    ("web.lab", own("web.lab") + "0", "does not carry that name's own challengePassword"),
    ("web.lab", own("web.lab")[:-1], "does not carry that name's own challengePassword"),
    ("web.lab", own("web.lab").upper(), "does not carry that name's own challengePassword"),
    ("intruder.lab", own("intruder.lab"), "is not on the stack's list"),
    ("web.la", own("web.la"), "is not on the stack's list"),  # whole names only
    ("# the list", SECRET, "is no DNS name"),
    ("", SECRET, "is no DNS name"),
])
def test_anything_else_waits_for_an_operator(tmp_path, policy, certname, challenge, said):
    proc = policy(certname, request(tmp_path, "x", challenge))
    assert proc.returncode != 0 and said in proc.stderr


def test_an_agents_challenge_under_another_listed_name_is_not_signed(tmp_path, policy):
    """What an agent holds (its own name's challenge) gets no other name signed: each listed name signs only with
    the challenge derived for it."""
    for mine, other in (("web.lab", "db.lab"), ("db.lab", "web.lab")):
        proc = policy(other, request(tmp_path, other, own(mine)))
        assert proc.returncode != 0 and "own challengePassword" in proc.stderr, proc.stderr
        assert policy(mine, request(tmp_path, mine, own(mine))).returncode == 0


def test_no_secret_signs_nothing(tmp_path, policy):
    empty, long, odd = tmp_path / "empty", tmp_path / "long", tmp_path / "odd"
    empty.write_text("\n")
    long.write_text("q" * 65 + "\n")
    odd.write_text("has space\n")
    for secret in (empty, odd, tmp_path / "missing"):
        proc = policy("web.lab", request(tmp_path, "web.lab", own("web.lab")), secret)
        assert proc.returncode != 0 and "no challenge secret in" in proc.stderr
    proc = policy("web.lab", request(tmp_path, "web.lab", own("web.lab", "q" * 65)), long)
    assert proc.returncode != 0 and "over 64 bytes" in proc.stderr


def test_the_secret_never_reaches_a_command_line(tmp_path, policy, fakebin):
    """The HMAC is built by the shell (printf, a builtin) and openssl reads it on standard input: every program
    autosign.sh starts is logged with its arguments, and none holds the secret."""
    for tool in ("openssl", "od", "sed", "head", "grep", "cat", "dirname"):  # logged, then the real one
        fakebin.add(tool, f'exec {shutil.which(tool)} "$@"\n')
    proc = fakebin.run(["sh", "-c", puppet_service.AUTOSIGN_SCRIPT, str(tmp_path / "dockstack" / "autosign.sh"),
                        "web.lab", str(tmp_path / "challenge")], request(tmp_path, "web.lab", own("web.lab")))
    assert proc.returncode == 0, proc.stderr
    started = fakebin.calls()
    assert fakebin.calls("openssl").count("openssl dgst -sha256 -binary") == 1 and fakebin.calls("od")
    assert not [line for line in started if SECRET in line], started


def test_a_secret_file_ending_in_a_newline_signs_too(tmp_path, policy):
    secret = tmp_path / "with-newline"
    secret.write_text(SECRET + "\n")
    assert policy("web.lab", request(tmp_path, "web.lab", own("web.lab")), secret).returncode == 0


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


# --- the forget before a new key asks ----------------------------------------------------------------------------

@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    """The CA's folders as the server keeps them: web.lab signed, db.lab's request pending."""
    ca = tmp_path / "ca"
    for sub in ("signed", "requests"):
        (ca / sub).mkdir(parents=True)
    (ca / "signed" / "web.lab.pem").write_text("cert\n")
    (ca / "requests" / "db.lab.pem").write_text("csr\n")
    return ca


def forget(fakebin, ca: Path, certname: str, wait: str = "2", server: str = "puppet.lab"):
    return fakebin.run(["sh", "-c", puppet_service.FORGET_SCRIPT, "sh", certname, str(ca), wait, server,
                        "/var/lib/puppet/ssl"])


# the server's status and the CA's API as they work (needs $CA): the clean endpoint revokes and removes the
# certificate of the name in its JSON body, DELETE certificate_status removes a pending request; every call logged
CURL = ('for a; do last=$a; done\n'
        'case $last in\n'
        '  */status/v1/simple) printf running ;;\n'
        '  */puppet-ca/v1/clean) n=$(printf %s "$*" | sed -n \'s/.*"certnames":\\["\\([^"]*\\)"\\].*/\\1/p\')\n'
        '    rm -f "$CA/signed/$n.pem"; printf 200 ;;\n'
        '  */puppet-ca/v1/certificate_status/*) rm -f "$CA/requests/${last##*/}.pem"; printf 204 ;;\n'
        '  *) exit 9 ;;\n'
        'esac\n')


@pytest.mark.parametrize(("certname", "asked"), [
    ("web.lab", "PUT --data {\"certnames\":[\"web.lab\"]} https://puppet.lab:8140/puppet-ca/v1/clean"),
    ("db.lab", "DELETE --data  https://puppet.lab:8140/puppet-ca/v1/certificate_status/db.lab"),
])
def test_forget_has_the_ca_revoke_and_remove_what_it_holds_for_the_name(fakebin, ca_dir, certname, asked):
    """One request per file, each on a connection of its own, as the server's own certificate (no second request
    on a connection whose server just reloaded its TLS context: that one waits out a 30 s idle timeout)."""
    fakebin.add("curl", f"CA={ca_dir}\n{CURL}")
    proc = forget(fakebin, ca_dir, certname)
    assert (proc.returncode, proc.stdout) == (0, "forget done\n"), proc.stderr
    api = [c for c in fakebin.calls("curl") if "/puppet-ca/" in c]
    assert len(api) == 1 and api[0].endswith(asked), api
    assert ("--resolve puppet.lab:8140:127.0.0.1 --cacert /var/lib/puppet/ssl/certs/ca.pem --cert "
            "/var/lib/puppet/ssl/certs/puppet.lab.pem --key /var/lib/puppet/ssl/private_keys/puppet.lab.pem") in api[0]
    assert not (ca_dir / "signed" / f"{certname}.pem").exists()
    assert not (ca_dir / "requests" / f"{certname}.pem").exists()
    assert len(list(ca_dir.rglob("*.pem"))) == 1  # the other name's file stays


def test_forget_of_a_name_the_ca_does_not_hold_asks_no_server(fakebin, ca_dir):
    fakebin.add("curl", "exit 7\n")  # not even answering: nothing to ask it
    proc = forget(fakebin, ca_dir, "new.lab")
    assert (proc.returncode, proc.stdout) == (0, "forget none\n") and not fakebin.calls("curl")


def test_forget_waits_for_a_starting_server_then_gives_up_keeping_the_certificate(fakebin, ca_dir):
    fakebin.add("curl", 'case "$*" in *status/v1/simple) exit 7 ;; esac; exit 9\n')
    fakebin.add("sleep", "exit 0\n")
    fakebin.add("date", 'n=$(cat "$FAKEBIN_STATE/t" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKEBIN_STATE/t"; '
                        'echo "$n"\n')
    proc = forget(fakebin, ca_dir, "web.lab", wait="3")
    assert proc.returncode == 1 and "does not answer after 3s" in proc.stderr
    assert all("/puppet-ca/" not in c for c in fakebin.calls("curl"))
    assert (ca_dir / "signed" / "web.lab.pem").exists()


def test_forget_says_so_when_the_ca_still_holds_the_name(fakebin, ca_dir):
    fakebin.add("curl", 'case "$*" in *status/v1/simple) printf running ;; *) printf 403 ;; esac\n')
    proc = forget(fakebin, ca_dir, "web.lab")
    assert proc.returncode == 1 and "the CA still holds web.lab" in proc.stderr and "clean: 403" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(("certname", "wait", "said"), [
    ("../signed/web.lab", "2", "is no certname"), ("", "2", "is no certname"), (".lab", "2", "is no certname"),
    ("web.lab", "", "no number of seconds"), ("web.lab", "1; id", "no number of seconds"),
])
def test_forget_refuses_what_is_no_certname_before_touching_anything(fakebin, ca_dir, certname, wait, said):
    fakebin.add("curl", f"CA={ca_dir}\n{CURL}")
    proc = forget(fakebin, ca_dir, certname, wait)
    assert proc.returncode == 1 and said in proc.stderr and not fakebin.calls("curl")
    assert len(list(ca_dir.rglob("*.pem"))) == 2


def test_forget_runs_in_the_servers_container_on_its_host(container):
    server = container("puppet", role="puppet")
    argv = puppet_service.forget_argv(server, "web.dockstack.lab", "dockstack.lab")
    assert argv == ["docker", "exec", "puppet", "sh", "-c", puppet_service.FORGET_SCRIPT, "sh", "web.dockstack.lab",
                    puppet_service.CA_DIR, str(puppet_service.FORGET_WAIT), "puppet.dockstack.lab",
                    puppet_service.SSL_DIR]
    assert puppet_service.SERVICE.agent_forget_argv(server, "web.dockstack.lab", "dockstack.lab") == argv


def test_the_server_refuses_a_second_certificate_for_a_name(container):
    conf = [line for line in puppet_service.render_puppet_conf(container("puppet", role="puppet"), "lab").splitlines()
            if not line.startswith("#")]
    assert "allow_duplicate_certs = false" in conf and "allow_duplicate_certs = true" not in conf
