"""The stack's TLS material: a CA of its own and the certificate haproxy serves on the VIP, kept beside the
secrets file (`containers.tls/`, never committed). Loading reads it (the folder and the keys private to their owner,
checked every time), or makes what is missing in memory; the commands that start containers save it
(keep_generated_secrets), as with the generated passwords. A CA made in memory is used only for a new stack or on the
operator's word (`inv tls.init`): dockstack/cacheck.py. Clients trust the CA (`ca.crt`); rotating it: see
docs/security.md."""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dockstack.config import secrets
from dockstack.errors import ConfigError

CA_FILE, CA_KEY, CERT_FILE, CERT_KEY = "ca.crt", "ca.key", "vip.crt", "vip.key"
# where a container that is a client of the VIP finds the stack's CA (profile::trust writes it, from the hieradata):
# the file its clients pin (OS_CACERT, keystone_authtoken's cafile, horizon's), and the system trust store's source
CONTAINER_CA_FILE = "/usr/local/share/ca-certificates/dockstack-stack.crt"
SERVED_FILE = "tls.pem"  # in a balancer's (haproxy's) folder on its host: what it serves (StackTls.served)
CA_DAYS = 3650  # the CA: ten years (rotation is an operator's decision, see docs/security.md)
CERT_DAYS = 825  # the VIP's certificate: what browsers accept at most; made again 30 days before it ends
RENEW_BEFORE = datetime.timedelta(days=30)


def tls_dir_for(containers_file: Path) -> Path:
    """containers.yaml -> containers.tls/ beside its secrets file (git-ignored: `*.tls/`)."""
    secrets_file = secrets.secrets_file_for(containers_file)  # looked up at call time: tests move it
    return secrets_file.with_name(secrets_file.name.removesuffix(".secrets.yaml") + ".tls")


def copy_kept(src: Path, dst: Path) -> None:
    """What dockstack keeps for the stack of containers file src (its secrets file and its TLS folder), copied to
    where a containers file dst finds them: a variant of the same deployed stack (the tests' and the benchmark's)
    keeps its passwords and its CA. What src's stack does not have yet (no deploy made it) is not copied."""
    if secrets.secrets_file_for(src).exists():
        shutil.copy(secrets.secrets_file_for(src), secrets.secrets_file_for(dst))
    if tls_dir_for(src).is_dir():
        shutil.copytree(tls_dir_for(src), tls_dir_for(dst), dirs_exist_ok=True)


@dataclass(frozen=True)
class StackTls:
    """The CA and the VIP's certificate (PEM text); made: file names this load made, not yet saved."""

    path: str
    ca_cert: str
    ca_key: str
    cert: str
    key: str
    made: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the keys are secrets
        return f"StackTls(path={self.path!r}, made={self.made!r})"

    @property
    def served(self) -> str:
        """What haproxy loads (`crt`): its certificate, the CA's, then its key."""
        return self.cert + self.ca_cert + self.key

    def new_ca(self) -> bool:
        """Whether this load made the CA and it is not in the folder yet (save() puts it there): a CA no client
        trusts until the operator hands it out (dockstack/cacheck.py says when one may be used)."""
        return CA_FILE in self.made and _read(Path(self.path), CA_FILE) != self.ca_cert

    def save(self) -> bool:
        """Write what this load made: the folder and the keys readable by their owner only. False: nothing to do."""
        if not self.made:
            return False
        texts = {CA_FILE: self.ca_cert, CA_KEY: self.ca_key, CERT_FILE: self.cert, CERT_KEY: self.key}
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            for name in self.made:
                fd = os.open(os.path.join(self.path, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o600 if name.endswith(".key") else 0o644)
                with os.fdopen(fd, "w") as f:
                    f.write(texts[name])
        except OSError as exc:
            raise ConfigError(self.path, "", f"cannot write the stack's TLS files: {exc.strerror}",
                              "make the folder beside containers.yaml writable") from None
        return True


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockstack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(stack_name: str, now: datetime.datetime) -> tuple[str, str]:
    """A new CA for one stack: (certificate, key) as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"dockstack CA {stack_name}")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _pem(cert), _key_pem(key)


def make_cert(ca_cert: str, ca_key: str, names: tuple[str, ...], ips: tuple[str, ...],
              now: datetime.datetime) -> tuple[str, str]:
    """A server certificate for names and ips, signed by the CA: (certificate, key) as PEM."""
    ca = x509.load_pem_x509_certificate(ca_cert.encode())
    signer = serialization.load_pem_private_key(ca_key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    alt = [*(x509.DNSName(n) for n in names), *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)]
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            .sign(signer, hashes.SHA256()))  # type: ignore[arg-type]
    return _pem(cert), _key_pem(key)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _check_private(path: Path, folder: bool) -> None:
    """path (when it exists) owned by the user dockstack runs as and open to no one else: a folder or key others
    may read gives the stack's keys away, one others may write lets them replace its CA. Refused with the fix."""
    what, mode = ("folder", 0o700) if folder else ("key file", 0o600)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read its mode: {exc.strerror}",
                          "restore it from your backup, or see docs/security.md (rotating the CA)") from None
    if not (stat.S_ISDIR if folder else stat.S_ISREG)(st.st_mode):
        raise ConfigError(str(path), "", f"is not a {what}",
                          "restore it from your backup, or see docs/security.md (rotating the CA)")
    me = os.geteuid()
    if st.st_uid != me:
        raise ConfigError(str(path), "", f"owned by {_user(st.st_uid)}, not by {_user(me)} who runs dockstack: its "
                          "owner can read or replace the stack's keys", f"chown {_user(me)} {path}")
    perms = stat.S_IMODE(st.st_mode)
    if perms & 0o077:
        raise ConfigError(str(path), "", f"mode {perms:04o} lets users other than its owner read or replace the "
                          f"stack's keys: a {what} of the stack's TLS must be {mode:04o} or narrower",
                          f"chmod {mode:o} {path}")


def check_modes(folder: Path) -> None:
    """The TLS folder 0700 and its keys 0600 (or narrower), owned by the user dockstack runs as: checked on every
    load, as the modes a save sets may have been widened since (a copy, a restore from a backup, an editor)."""
    _check_private(folder, folder=True)
    if folder.is_dir():
        for name in (CA_KEY, CERT_KEY):
            _check_private(folder / name, folder=False)


def _read(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(folder / name), "", f"cannot read it: {exc}",
                          "restore it from your backup, or see docs/security.md (rotating the CA)") from None


def _check_ca(folder: Path, cert: str, key: str) -> None:
    """The CA's certificate and key, as PEM, belonging together; a clear error for anything else."""
    try:
        ca = x509.load_pem_x509_certificate(cert.encode())
        signer = serialization.load_pem_private_key(key.encode(), password=None)
    except ValueError as exc:
        raise ConfigError(str(folder / CA_FILE), "", f"{CA_FILE} and {CA_KEY} are no PEM certificate and key ({exc})",
                          "restore both from your backup, or see docs/security.md (rotating the CA)") from None
    if signer.public_key().public_bytes(serialization.Encoding.DER,  # type: ignore[union-attr]
                                        serialization.PublicFormat.SubjectPublicKeyInfo) != \
            ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigError(str(folder / CA_KEY), "", f"{CA_KEY} is not the key of {CA_FILE}",
                          "restore both from the same backup, or see docs/security.md (rotating the CA)")


def _cert_fits(cert: str, key: str, ca_cert: str, names: tuple[str, ...], ips: tuple[str, ...],
               now: datetime.datetime) -> bool:
    """Whether the VIP's certificate can stay: signed by this CA, for exactly these names and addresses, its key
    its own, and not ending within RENEW_BEFORE."""
    try:
        c = x509.load_pem_x509_certificate(cert.encode())
        k = serialization.load_pem_private_key(key.encode(), password=None)
        ca = x509.load_pem_x509_certificate(ca_cert.encode())
        ca.public_key().verify(c.signature, c.tbs_certificate_bytes,  # type: ignore[call-arg,union-attr]
                               ec.ECDSA(c.signature_hash_algorithm))  # type: ignore[arg-type]
        alt = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    same_key = k.public_key().public_bytes(serialization.Encoding.DER,  # type: ignore[union-attr]
                                           serialization.PublicFormat.SubjectPublicKeyInfo) == \
        c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return (same_key and sorted(alt.get_values_for_type(x509.DNSName)) == sorted(names)
            and sorted(str(i) for i in alt.get_values_for_type(x509.IPAddress)) == sorted(ips)
            and c.not_valid_after_utc - RENEW_BEFORE > now)


def stack_tls(containers_file: Path, names: Iterable[str], ips: Iterable[str],
              now: datetime.datetime | None = None) -> StackTls:
    """The stack's TLS material from its folder; a missing CA is made, and a VIP certificate that is missing, is
    not for these names and addresses or ends soon is made again (in memory: save() writes them)."""
    names, ips = tuple(dict.fromkeys(names)), tuple(dict.fromkeys(ips))
    now = now or datetime.datetime.now(datetime.UTC)
    folder = tls_dir_for(containers_file)
    check_modes(folder)
    made: list[str] = []
    ca_cert, ca_key = _read(folder, CA_FILE), _read(folder, CA_KEY)
    if ca_cert is None and ca_key is None:
        ca_cert, ca_key = make_ca(containers_file.stem, now)
        made += [CA_FILE, CA_KEY]
    elif ca_cert is None or ca_key is None:
        missing = CA_FILE if ca_cert is None else CA_KEY
        raise ConfigError(str(folder / missing), "", "missing, while the other half of the stack's CA is there",
                          "restore it from your backup, or see docs/security.md (rotating the CA)")
    _check_ca(folder, ca_cert, ca_key)
    cert, key = _read(folder, CERT_FILE), _read(folder, CERT_KEY)
    if made or cert is None or key is None or not _cert_fits(cert, key, ca_cert, names, ips, now):
        cert, key = make_cert(ca_cert, ca_key, names, ips, now)
        made += [CERT_FILE, CERT_KEY]
    return StackTls(str(folder), ca_cert, ca_key, cert, key, tuple(made))
