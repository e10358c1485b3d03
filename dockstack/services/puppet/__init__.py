"""puppet: the Puppet server the agents in every role with classes ask. It is fed site.pp, hieradata, the autosign
list, puppet.conf and the repository's profiles, rendered from the config alone (never from addresses): they
change only when containers.yaml does, and the server has every node's block before that node's agent asks. What each
agent's catalog depends on, as a digest its host records after each run that passed (catalog.py: deploy-all runs the
agent again where it differs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

from dockstack.config import ROOT, SECRETS_MOUNT, Container, Stack
from dockstack.config.tls import CONTAINER_CA_FILE
from dockstack.errors import DockstackError
from dockstack.render import render
from dockstack.scripts import script
from dockstack.services.base import Context, Service
from dockstack.services.puppet import catalog
from dockstack.settings import puppet_modules

MOUNT = "/etc/puppet/dockstack"  # puppet.conf, autosign.conf, environments/production
MODULES = ROOT / "puppet" / "modules"  # the profiles, shipped into the environment's modules/ (settings can say others)
MODULE_PATH_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")  # a file's, in modules/
ENVIRONMENT = "environments/production"  # inside the puppet service folder
# the RSA key length of the CA and the server key the server makes at its first start (puppet.conf.j2 says why)
KEYLENGTH = 2048
# the JVM: a 512 MiB heap (Debian's default is 1 GiB) and the client compiler only, which starts JRuby faster on a
# small machine (measured: docs/services/puppet.md); the rest is Debian's unit file
JAVA_ARGS = ("-Xms256m", "-Xmx512m", "-XX:TieredStopAtLevel=1",
             "-Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger",
             "-Djruby.lib=/usr/share/jruby/lib", "-XX:+CrashOnOutOfMemoryError")
SERVER_SCRIPT = script("puppetserver.sh")  # the container's command: the server in the foreground
AUTOSIGN_SCRIPT = script("autosign.sh")  # the autosign policy: a listed name with its own challenge
# before an agent with a new key asks: its name's old certificate revoked and removed (the server signs no duplicate)
FORGET_SCRIPT = script("puppet_forget.sh")
RUN = "/run/puppetserver"  # in the container: the autosign wrapper
AUTOSIGN = f"{RUN}/autosign"  # puppet.conf's `autosign`: the wrapper puppetserver.sh writes
# the stack's secret (secrets file key, the server's file of it in SECRETS_MOUNT, root's only) that each agent's CSR
# challenge is derived from: the server holds it and the autosign policy reads the file, an agent holds only the
# challenge of its own name (challenge())
CHALLENGE = ("puppet_challenge_password", "PUPPET_CHALLENGE_PASSWORD")
CHALLENGE_FILE = f"{SECRETS_MOUNT}/{CHALLENGE[1]}"
CA_DIR = "/etc/puppet/puppetserver/ca"  # Debian's CA folder, inside the server's container
CA_FILE = f"{CA_DIR}/ca_crt.pem"  # the CA certificate(s)
SSL_DIR = "/var/lib/puppet/ssl"  # Debian's ssldir, inside the server's container: its own certificate and key
# how long the forget waits for a server that is still starting (the CA's API revokes): as long as an agent waits
FORGET_WAIT = 180
# one PEM certificate (base64 lines of at most 76 characters), one to four of them (a root and intermediates)
_CERT = r"-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{1,76}\n)+-----END CERTIFICATE-----\n"
CA_RE = re.compile(rf"(?:{_CERT}){{1,4}}")


def fqdn(c: Container, domain: str) -> str:
    return f"{c.name}.{domain}"


def render_site_pp(stack: Stack, domain: str, only: Container | None = None) -> str:
    """A node block per configured container, with its role's classes (only: that container's block alone)."""
    return render("puppet/site.pp.j2", nodes=[(fqdn(c, domain), stack.role(c.role).classes) for c in stack.containers
                                              if only is None or c.name == only.name])


def frontends(stack: Stack, domain: str) -> list[str]:
    """Where clients reach the balanced services: the virtual IP's name when the stack has one, else each
    container of a role that balances (haproxy's)."""
    vips = [f"{vip.name}.{domain}" for _, vip in stack.vips()]
    return vips or [fqdn(c, domain) for c in stack.containers if c.definition and c.definition.provides_vip]


def render_hieradata(stack: Stack, domain: str) -> str:
    """The configured containers per role and per service, and the balanced services, by DNS name. Profiles find
    their peers by service (`members_by_service`), so renaming a role keeps them right."""
    by_role = {r.name: [(c, fqdn(c, domain)) for c in stack.of_role(r.name)] for r in stack.roles}
    by_service: dict[str, list[str]] = {}
    for c in stack.containers:
        if c.service:
            by_service.setdefault(c.service, []).append(fqdn(c, domain))
    balanced = [(b, r.name) for r in stack.roles for b in r.balance]
    server = stack.catalog_provider()
    return render("puppet/common.yaml.j2", domain=domain, by_role={k: v for k, v in by_role.items() if v},
                  by_service=by_service, balanced=balanced, frontends=frontends(stack, domain),
                  server=fqdn(server, domain) if server else "", ca_cert=stack.tls.ca_cert if stack.tls else "",
                  ca_file=CONTAINER_CA_FILE if stack.tls else "")


def render_hiera_config() -> str:
    return render("puppet/hiera.yaml.j2")


def node_data_path(c: Container, domain: str) -> str:
    """c's own hieradata file, relative to the environment's data/ (hiera.yaml's first level)."""
    return f"nodes/{fqdn(c, domain)}.yaml"


def render_node_hieradata(stack: Stack, c: Container, domain: str) -> str:
    """c's own hieradata: its role's roles[].hieradata (JSON, which YAML reads as it is); an empty mapping for a role
    without, so a key taken out of containers.yaml is gone from the server too."""
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in stack.role(c.role).hieradata}
    return render("puppet/node.yaml.j2", node=fqdn(c, domain), role=c.role,
                  data=json.dumps(data, indent=2, sort_keys=True))


def hieradata_of(stack: Stack, c: Container, domain: str) -> dict[str, str]:
    """The hieradata files c's agent reads (relative to data/), in hiera.yaml's order: its own, then common.yaml."""
    return {node_data_path(c, domain): render_node_hieradata(stack, c, domain),
            "common.yaml": render_hieradata(stack, domain)}


def render_autosign(stack: Stack, domain: str) -> str:
    """The certnames the Puppet server signs: the containers that run the agent, nothing else (no globs)."""
    return render("puppet/autosign.conf.j2", names=[fqdn(c, domain) for c in stack.containers if stack.asks_catalog(c)])


def render_puppet_conf(server: Container, domain: str) -> str:
    return render("puppet/puppet.conf.j2", certname=fqdn(server, domain), mount=MOUNT, environment=ENVIRONMENT,
                  autosign=AUTOSIGN, keylength=KEYLENGTH)


def ca_argv(server: Container) -> list[str]:
    """The one command that reads the Puppet CA from its server's container, on its Docker host (over SSH:
    the agents pin what it prints, never a CA offered on the container network)."""
    return ["docker", "exec", server.name, "cat", CA_FILE]


def parse_ca(server: Container, text: str) -> str:
    """The CA certificate(s) ca_argv printed, as agent.sh pins them; a clear error for anything else."""
    pem = text.replace("\r\n", "\n").strip() + "\n"
    if not CA_RE.fullmatch(pem):
        raise DockstackError(f"{server.name} on {server.host}: {CA_FILE} holds no PEM CA certificate, so no agent "
                             "can pin it: is the Puppet server running and done with its first start? "
                             f"(`inv status`, `inv create --name={server.name}`)")
    return pem.rstrip("\n")


def stack_secret(stack: Stack) -> str:
    """The secret the agents' CSR challenges are derived from, from the secrets file (made with the other
    generated passwords): the server's alone."""
    if stack.generated is None or CHALLENGE[0] not in stack.generated.values:
        raise DockstackError(f"{stack.path}: the secrets file has no {CHALLENGE[0]} for the Puppet agents' "
                             "certificate requests")
    return stack.generated.values[CHALLENGE[0]]


def derive_challenge(secret: str, certname: str) -> str:
    """HMAC-SHA256 of certname under secret, in hex: what autosign.sh computes on the server."""
    return hmac.new(secret.encode(), certname.encode(), hashlib.sha256).hexdigest()


def challenge(stack: Stack, certname: str) -> str:
    """certname's own CSR challenge, derived from the stack's secret. Its agent gets this and nothing else;
    autosign.sh derives the same on the server and signs certname only with it, so an agent that shows its
    challenge under another name gets nothing."""
    return derive_challenge(stack_secret(stack), certname)


def forget_argv(server: Container, certname: str, domain: str) -> list[str]:
    """The one command, on the server's Docker host, that has the server forget certname's certificate and pending
    request (FORGET_SCRIPT, inside its container, asking the CA's API as the server's own certname): what comes
    before an agent with a new key asks."""
    return ["docker", "exec", server.name, "sh", "-c", FORGET_SCRIPT, "sh", certname, CA_DIR, str(FORGET_WAIT),
            fqdn(server, domain), SSL_DIR]


def module_files(root: Path | None = None) -> dict[str, str]:
    """The Puppet modules the server is given (the repository's, or the folder settings name): path relative to
    modules/ -> text. A file name that is not plain letters, digits, `_`, `.` and `-` is refused, naming it."""
    root = root or puppet_modules() or MODULES
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    for rel, p in files.items():
        if not MODULE_PATH_RE.fullmatch(rel):
            raise DockstackError(f"{p}: not a file name the Puppet server is given (letters, digits, `_`, `.`, `-`, "
                                 "not starting with `.` or `-`): rename or remove it")
    return {rel: p.read_text() for rel, p in files.items()}


def catalog_digests(stack: Stack, domain: str, modules: dict[str, str] | None = None) -> dict[str, str]:
    """Each container whose agent asks for a catalog -> the digest of what that catalog depends on, as the server
    is given it: its node block, the modules' files its classes reach, hiera.yaml and what it looks up of the
    hieradata (catalog.digest)."""
    modules = module_files() if modules is None else modules
    hiera = render_hiera_config()
    return {c.name: catalog.digest(render_site_pp(stack, domain, only=c), stack.role(c.role).classes, modules, hiera,
                                   hieradata_of(stack, c, domain))
            for c in stack.containers if stack.asks_catalog(c)}


def puppet_files(stack: Stack, server: Container, domain: str) -> dict[str, str]:
    """Every file of the Puppet server's folder (relative paths): its config, the autosign list, the environment."""
    env = {f"{ENVIRONMENT}/manifests/site.pp": render_site_pp(stack, domain),
           f"{ENVIRONMENT}/data/common.yaml": render_hieradata(stack, domain),
           f"{ENVIRONMENT}/hiera.yaml": render_hiera_config()}
    env.update({f"{ENVIRONMENT}/data/{node_data_path(c, domain)}": render_node_hieradata(stack, c, domain)
                for c in stack.containers if stack.asks_catalog(c)})
    env.update({f"{ENVIRONMENT}/modules/{p}": t for p, t in module_files().items()})
    return {"puppet.conf": render_puppet_conf(server, domain), "autosign.conf": render_autosign(stack, domain),
            "autosign.sh": AUTOSIGN_SCRIPT, **env}


class Puppet(Service):
    def files(self, ctx: Context, c: Container) -> dict[str, str]:
        return puppet_files(ctx.stack, c, ctx.network.domain)

    def agent_ca_argv(self, c: Container) -> list[str]:
        return ca_argv(c)

    def parse_agent_ca(self, c: Container, text: str) -> str:
        return parse_ca(c, text)

    def agent_challenge(self, stack: Stack, certname: str) -> str:
        return challenge(stack, certname)

    def agent_forget_argv(self, c: Container, certname: str, domain: str) -> list[str]:
        return forget_argv(c, certname, domain)

    def catalog_digests(self, stack: Stack, domain: str) -> dict[str, str]:
        return catalog_digests(stack, domain)


SERVICE = Puppet(
    name="puppet", provides_catalog=True, secret_files=(CHALLENGE,),
    # ready when the server answers its status API (the JVM and JRuby take about half a minute on an idle machine;
    # over 3 minutes were seen with 2 cores shared by three busy labs), within 10 s: a server stopped with SIGSTOP
    # accepts the connection (the kernel does) and never answers, and deploy-all's polling of the check has no bound
    # of its own per try
    check='test "$(curl -sfk -m 10 https://127.0.0.1:8140/status/v1/simple)" = running', check_timeout=300,
    mount=MOUNT,
    # the server only reads its folder (its settings, the autosign policy, the environment: its CA, keys and state
    # live in the container's own /etc/puppet/puppetserver and /var/lib/puppet*), where the host writes as root
    read_only_mount=True,
    command=("sh", "-c", SERVER_SCRIPT, "sh", MOUNT, RUN, CHALLENGE_FILE, *JAVA_ARGS),
    follows_stack=True,  # a node's block and its profiles are on the server before its agent asks
    digested=("*",),
)
