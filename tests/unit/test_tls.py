"""The stack's TLS material (config.tls): a CA of its own, the VIP's certificate it signs, kept beside the secrets
file and made again only when it no longer fits; and haproxy's HTTPS frontends that serve it."""

from __future__ import annotations

import dataclasses
import datetime
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from dockstack.config import ROOT, tls
from dockstack.errors import ConfigError
from dockstack.services import haproxy as haproxy_service
from dockstack.services import openstack as openstack_service
from dockstack.services import puppet as puppet_service
from dockstack.services.base import Context
from dockstack.services.registry import DEFINITIONS

NAMES, IPS = ("vip.dockstack.lab",), ("10.100.0.10",)
NOW = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)


def made(tmp_path: Path, names=NAMES, ips=IPS, now=NOW) -> tls.StackTls:
    return tls.stack_tls(tmp_path / "containers.yaml", names, ips, now)


def test_a_new_stack_gets_a_ca_and_a_vip_certificate_that_it_signed(tmp_path):
    t = made(tmp_path)
    assert t.made == (tls.CA_FILE, tls.CA_KEY, tls.CERT_FILE, tls.CERT_KEY)
    cert = x509.load_pem_x509_certificate(t.cert.encode())
    ca = x509.load_pem_x509_certificate(t.ca_cert.encode())
    cert.verify_directly_issued_by(ca)
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == list(NAMES)
    assert [str(i) for i in alt.get_values_for_type(x509.IPAddress)] == list(IPS)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert t.served == t.cert + t.ca_cert + t.key and "PRIVATE KEY" not in repr(t)


def test_saved_once_it_is_read_back_the_same_with_its_keys_private(tmp_path):
    t = made(tmp_path)
    assert t.save() and not made(tmp_path).save()  # nothing made the second time
    again = made(tmp_path)
    assert (again.ca_cert, again.cert, again.key) == (t.ca_cert, t.cert, t.key) and again.made == ()
    folder = tls.tls_dir_for(tmp_path / "containers.yaml")
    assert folder == tmp_path / "containers.tls"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / tls.CA_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / tls.CERT_KEY).stat().st_mode) == 0o600


@pytest.mark.parametrize(("names", "ips", "now"), [
    (("api.dockstack.lab",), IPS, NOW),  # the VIP was renamed
    (NAMES, ("10.100.0.20",), NOW),  # or moved
    (NAMES, IPS, NOW + datetime.timedelta(days=tls.CERT_DAYS - 20)),  # it ends within 30 days
])
def test_the_vip_certificate_is_made_again_by_the_same_ca_when_it_no_longer_fits(tmp_path, names, ips, now):
    first = made(tmp_path)
    first.save()
    second = made(tmp_path, names, ips, now)
    assert second.made == (tls.CERT_FILE, tls.CERT_KEY) and second.ca_cert == first.ca_cert
    x509.load_pem_x509_certificate(second.cert.encode()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(first.ca_cert.encode()))


def saved_beside_another(tmp_path: Path) -> tuple[Path, tls.StackTls]:
    """The stack's material saved, its folder, and another stack's (another CA) to mix into it."""
    made(tmp_path).save()
    (tmp_path / "other").mkdir()
    return tls.tls_dir_for(tmp_path / "containers.yaml"), made(tmp_path / "other")


def test_a_certificate_of_another_ca_is_replaced(tmp_path):
    folder, other = saved_beside_another(tmp_path)
    (folder / tls.CERT_FILE).write_text(other.cert)
    (folder / tls.CERT_KEY).write_text(other.key)
    assert made(tmp_path).made == (tls.CERT_FILE, tls.CERT_KEY)


@pytest.mark.parametrize(("edit", "file", "said"), [
    (lambda f: (f / tls.CA_KEY).unlink(), tls.CA_KEY, "missing, while the other half of the stack's CA is there"),
    (lambda f: (f / tls.CA_FILE).write_text("not a certificate"), tls.CA_FILE, "are no PEM certificate and key"),
])
def test_a_broken_ca_is_refused_naming_the_file_never_made_again(tmp_path, edit, file, said):
    made(tmp_path).save()
    folder = tls.tls_dir_for(tmp_path / "containers.yaml")
    edit(folder)
    with pytest.raises(ConfigError) as err:
        made(tmp_path)
    assert str(folder / file) in str(err.value) and said in str(err.value) and "docs/security.md" in str(err.value)


def test_a_ca_key_of_another_ca_is_refused(tmp_path):
    folder, other = saved_beside_another(tmp_path)
    (folder / tls.CA_KEY).write_text(other.ca_key)
    with pytest.raises(ConfigError, match=r"is not the key of ca\.crt"):
        made(tmp_path)


def test_the_served_chain_verifies_against_the_ca_alone_for_the_vips_name(tmp_path):
    """What haproxy serves, checked by openssl as a client that trusts only the stack's CA would check it."""
    t = made(tmp_path)
    (tmp_path / "cert.pem").write_text(t.cert)
    (tmp_path / "ca.pem").write_text(t.ca_cert)
    at = str(int(NOW.timestamp()) + 60)
    ok = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), "-verify_hostname", NAMES[0],
                         "-purpose", "sslserver", "-attime", at, str(tmp_path / "cert.pem")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": OK"), ok.stdout + ok.stderr
    wrong = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), "-verify_hostname", "evil.lab",
                            "-attime", str(int(NOW.timestamp()) + 60), str(tmp_path / "cert.pem")],
                           capture_output=True, text=True)
    assert wrong.returncode != 0
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    assert ctx.get_ca_certs()[0]["subject"][-1][0][1] == "dockstack CA containers"


def test_haproxy_terminates_tls_on_http_frontends_only(shipped_stack, shipped_inventory):
    ctx = Context(shipped_stack, shipped_inventory.network, ("10.100.0.2",), DEFINITIONS)
    cfg = haproxy_service.render_haproxy(ctx)
    for name, port in (("keystone", 5000), ("horizon", 443), ("nova-api", 8774)):
        front = cfg[cfg.index(f"frontend {name}\n"):]
        assert front.split("\n    mode")[0].splitlines()[-2].strip() == (
            f"bind *:{port} ssl crt {haproxy_service.TLS_PEM}"), front[:400]
    mysql = cfg[cfg.index("frontend mysql\n"):].splitlines()
    assert mysql[1].strip() == "bind *:3306"  # MySQL through the VIP stays TCP
    files = haproxy_service.SERVICE.files(ctx, shipped_stack.container("haproxy"))
    assert files["tls.pem"] == shipped_stack.tls.served and "tls.pem" in haproxy_service.SERVICE.private_files


@pytest.mark.parametrize(("file", "mode", "fix"), [
    ("", 0o755, "chmod 700"),  # the folder: anyone may list it, and read a key whose own mode was widened
    ("", 0o770, "chmod 700"),
    (tls.CA_KEY, 0o644, "chmod 600"),
    (tls.CA_KEY, 0o660, "chmod 600"),
    (tls.CERT_KEY, 0o604, "chmod 600"),
])
def test_a_folder_or_key_open_to_others_is_refused_on_every_load_with_the_fix(tmp_path, file, mode, fix):
    made(tmp_path).save()
    path = tls.tls_dir_for(tmp_path / "containers.yaml") / file
    path.chmod(mode)
    with pytest.raises(ConfigError) as err:
        made(tmp_path)
    assert err.value.path == str(path).rstrip("/")
    assert f"mode {mode:04o} lets users other than its owner read or replace the stack's keys" in str(err.value)
    assert err.value.fix == f"{fix} {str(path).rstrip('/')}"
    path.chmod(0o700 if not file else 0o600)
    assert made(tmp_path).made == ()  # put right: read as it was


def test_narrower_modes_are_fine(tmp_path):
    made(tmp_path).save()
    folder = tls.tls_dir_for(tmp_path / "containers.yaml")
    (folder / tls.CA_KEY).chmod(0o400)
    (folder / tls.CERT_FILE).chmod(0o644)  # certificates are public
    assert made(tmp_path).made == ()


def test_a_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    made(tmp_path).save()
    folder = tls.tls_dir_for(tmp_path / "containers.yaml")
    monkeypatch.setattr(tls.os, "geteuid", lambda: folder.stat().st_uid + 4242)  # as if someone else ran dockstack
    with pytest.raises(ConfigError) as err:
        made(tmp_path)
    assert err.value.path == str(folder) and "its owner can read or replace the stack's keys" in str(err.value)
    assert err.value.fix.startswith("chown ") and err.value.fix.endswith(f" {folder}")


def test_a_key_that_is_not_a_file_is_refused(tmp_path):
    made(tmp_path).save()
    key = tls.tls_dir_for(tmp_path / "containers.yaml") / tls.CA_KEY
    key.unlink()
    key.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="is not a key file"):
        made(tmp_path)


def test_a_missing_folder_is_no_mode_problem(tmp_path):
    assert tls.CA_FILE in made(tmp_path).made  # made in memory; whether it may be used: dockstack/cacheck.py


# --- the stack's CA pinned by every client of the VIP in the openstack container -------------------------------------

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def admin_openrc(tmp_path: Path, scheme: str) -> str:
    """The entrypoint's lines that write /root/admin-openrc, run by bash with Puppet's settings for scheme."""
    entry = openstack_service.render_file("entrypoint")
    start = entry.index("cacert=\n")
    end = entry.index("\nEOF\n", start) + len("\nEOF\n")
    out = tmp_path / "admin-openrc"
    snippet = entry[start:end].replace("/root/admin-openrc", str(out))
    ep = f"declare -A ep=([scheme]={scheme} [keystone]=vip.dockstack.lab:5000 [region]=RegionOne)\n"
    subprocess.run(["bash", "-euc", ep + snippet], check=True, capture_output=True, text=True)
    return out.read_text()


def test_admin_openrc_pins_the_stacks_ca_file_not_the_system_bundle(tmp_path):
    text = admin_openrc(tmp_path, "https")
    assert f"export OS_CACERT={tls.CONTAINER_CA_FILE}\n" in text and SYSTEM_BUNDLE not in text
    assert "export OS_AUTH_URL=https://vip.dockstack.lab:5000/v3 " in text
    assert "OS_CACERT" not in admin_openrc(tmp_path, "http")  # no TLS on the VIP: no CA to pin


def test_the_catalog_script_checks_keystone_against_the_stacks_ca_only():
    script = openstack_service.render_file("bootstrap")
    scope: dict = {}
    exec(script[script.index("def verify("):script.index("def logs_in(")], scope)  # the function alone
    assert scope["verify"]({"scheme": "https"}) == tls.CONTAINER_CA_FILE
    assert scope["verify"]({"scheme": "http"}) is True
    assert script.count("session.Session(") == script.count("verify=verify(ep)") == 2  # every session it opens


def test_the_hieradata_names_the_pinned_file_only_when_the_stack_has_a_ca(shipped_stack):
    data = yaml.safe_load(puppet_service.render_hieradata(shipped_stack, "dockstack.lab"))
    assert data["dockstack::ca_file"] == tls.CONTAINER_CA_FILE
    assert data["dockstack::ca_cert"] == shipped_stack.tls.ca_cert
    plain = yaml.safe_load(puppet_service.render_hieradata(dataclasses.replace(shipped_stack, tls=None),
                                                           "dockstack.lab"))
    assert plain["dockstack::ca_file"] == "" and plain["dockstack::ca_cert"] == ""


def test_every_profile_that_reaches_keystone_pins_the_stacks_ca():
    """keystone_authtoken (every API, and nova's own logins to placement and neutron, which reuse it), horizon and
    the Contrail API's settings name profile::ca_file; profile::trust writes that file; nothing names the system
    bundle."""
    profile = puppet_service.MODULES / "profile"
    authtoken = (profile / "functions" / "openstack" / "authtoken.pp").read_text()
    assert "$cafile = profile::ca_file()" in authtoken and "$settings + { 'cafile' => $cafile }" in authtoken
    assert "'cafile'       => profile::ca_file()," in (profile / "manifests" / "horizon.pp").read_text()
    assert 'OPENSTACK_SSL_CACERT = "<%= $cafile %>"' in (profile / "templates" / "horizon.py.epp").read_text()
    contrail = (profile / "manifests" / "contrail" / "config.pp").read_text()
    assert "'cafile'            => profile::ca_file()," in contrail
    trust = (profile / "manifests" / "trust.pp").read_text()
    assert "$path = profile::ca_file()" in trust and "file { $path:" in trust
    assert "lookup('dockstack::ca_file'" in (profile / "functions" / "ca_file.pp").read_text()
    for path in [*puppet_service.MODULES.rglob("*"), *(ROOT / "templates").rglob("*")]:
        if path.is_file():
            assert SYSTEM_BUNDLE not in path.read_text(), path
