"""The Puppet agent's protocol as an action runs it: what an agent run is handed (the server, the CA to pin, the
challenge) and what it reports back (parsed from its `agent ...` lines). The engine knows the catalog service only
through this and its definition's agent hooks (agent_ca_argv, parse_agent_ca, agent_challenge)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockstack.scripts import script

# In a container's folder on its host (services.service_dir, which its container sees read-only if at all): the
# digest of what its catalog depended on at its last agent run that passed (AgentPin.digest), written by the action
# script as root, read back by the host facts (#catalogs) and compared by the plan (a `reconfigure` where it differs)
DIGEST_FILE = "puppet-catalog.sha256"
AGENT_DIR = "/var/lib/dockstack-agent"  # inside a container: the agent's ssldir, run log and last run summary
# One Puppet agent run inside a container (`docker exec -i NAME sh -c AGENT_SCRIPT sh SERVER CERTNAME`; then
# DIR=AGENT_DIR, PORT=8140 and WAIT=0: seconds to wait for the server's port to accept). Standard input: the
# container's own CSR challenge, then the CA to pin (AgentPin): the agent never learns a CA from whoever answers as
# the server. Its ssldir is kept while that CA stays; a re-created server (a new CA) starts it over. The server signs
# no second certificate for a name, so before a container created or re-created with its name (a new key) runs
# this, the converge has the server forget that name's old certificate (the catalog service's agent_forget_argv).
# A 2048-bit key: Puppet's default 4096 bits take seconds to generate on a busy 2-core machine. No
# kept-alive connections: the one that submitted the certificate request stalled the next request for 30 s
# (Jetty's idle timeout), measured in the lab: 34 s for a first run with them, 6 s without. Prints
# `agent exit N`, the agent's Error lines (`agent error ...`) and its last run summary (`agent summary ...`).
# The text: dockstack/scripts/agent.sh.
AGENT_SCRIPT = script("agent.sh")


@dataclass(frozen=True)
class AgentPin:
    """What an agent run is given: the Puppet server's DNS name, the CA certificate(s) it may trust (read from
    the server's container over SSH: services.puppet.parse_ca), the certname it asks for and that name's own CSR
    challenge (a secret derived from the stack's, which no agent sees: the server signs that name only with it)."""

    server: str
    ca: str
    certname: str
    challenge: str = field(repr=False)
    # the digest of what its catalog depends on, as this command hands the server its inputs (the catalog service's
    # catalog_digests): recorded on its host once the run passed ("": none is recorded)
    digest: str = ""


@dataclass(frozen=True)
class AgentRun:
    """What one Puppet agent run reported: its exit code (--detailed-exitcodes), the resources its last run
    summary counts, its Error lines and how long it took."""

    exit_code: int | None
    changed: int | None
    failed: int | None
    total: int | None
    errors: tuple[str, ...] = ()
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        """Exit 0 (nothing to change) or 2 (changed), and a summary that counts no failed resource."""
        return self.exit_code in (0, 2) and self.failed == 0


def parse_agent(lines: list[str]) -> AgentRun | None:
    """The `agent ...` lines of an action or of AGENT_SCRIPT (prefix included); None when no agent ran."""
    code, errors, summary, ms, seen = None, [], [], None, False
    for line in lines:
        kind, _, rest = line.removeprefix("agent ").partition(" ")
        if not line.startswith("agent "):
            continue
        seen = True
        if kind == "exit" and rest.strip().lstrip("-").isdigit():
            code = int(rest)
        elif kind == "error":
            errors.append(rest.strip())
        elif kind == "summary":
            summary.append(rest)
        elif kind == "ms" and rest.strip().isdigit():
            ms = int(rest) / 1000
    if not seen:
        return None
    resources = summary_section(summary, "resources")
    return AgentRun(code, resources.get("changed"), resources.get("failed"), resources.get("total"), tuple(errors), ms)


def summary_section(lines: list[str], section: str) -> dict[str, int]:
    """`key: number` pairs of one top-level section of last_run_summary.yaml (flat YAML, 2-space indents)."""
    out: dict[str, int] = {}
    inside = False
    for line in lines:
        if line and not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
            continue
        key, _, value = line.strip().partition(":")
        if inside and value.strip().isdigit():
            out[key] = int(value)
    return out


