"""The address book: the registry of addresses and dnsmasq's lease data, as kept on the dnsmasq hosts.

Read once per command from the first dnsmasq host that has it; every change is rendered into
dnsmasq's files and pushed to every dnsmasq host (only what changed; dnsmasq reloaded if needed).
"""

from __future__ import annotations

from collections.abc import Callable

from dockstack import dockercli, facts, ipam
from dockstack.config import Container, Inventory, Stack
from dockstack.errors import DockstackError
from dockstack.remote import Remotes, parallel

Say = Callable[[str], None]


class AddressBook:
    """The address registry and lease data, read from the dnsmasq hosts and written back to all."""

    def __init__(self, inv: Inventory, stack: Stack, remotes: Remotes) -> None:
        self.inv, self.stack, self.remotes = inv, stack, remotes
        self.registry: dict[str, ipam.Record] = {}
        self.released: list[str] = []
        self.leases: list[facts.Lease] = []
        found = False
        for d in stack.dnsmasq_containers():
            base = dockercli.service_dir(d)
            texts = remotes[d.host].get_texts([f"{base}/ipam.json", f"{base}/leases"], "read dnsmasq's registry")
            if not found and texts[f"{base}/ipam.json"] is not None:
                self.registry, self.released = ipam.registry_from_json(texts[f"{base}/ipam.json"])
                found = True
            self.leases += facts.parse_leases(texts[f"{base}/leases"] or "")

    def known(self) -> dict[str, tuple[str, str]]:
        return ipam.known_addresses(self.registry, self.leases)

    def dns_servers(self) -> list[str]:
        return [str(d.ip) for d in self.stack.dnsmasq_containers()]

    def put(self, record: ipam.Record) -> None:
        try:
            ipam.check_record(self.registry, record)
        except ipam.ConflictError as exc:
            raise DockstackError(f"{record.name}: {exc}") from None
        self.registry[record.name] = record

    def publish(self, say: Say) -> None:
        """Push registry, dhcp-hosts, hosts and dnsmasq.conf to every dnsmasq host; SIGHUP on change."""
        records = ipam.reserved_static(self.stack, self.registry)
        files = {
            "ipam.json": ipam.registry_to_json(self.registry, self.released),
            "dhcp-hosts": ipam.render_dhcp_hosts(records, self.released),
            "hosts": ipam.render_hosts(records, self.inv.network.domain),
        }

        def push(d: Container) -> bool:
            r = self.remotes[d.host]
            base = dockercli.service_dir(d)
            conf = ipam.render_dnsmasq_conf(self.inv.network, d, self.dns_servers())
            changed = r.sync_files(base, {**files, "dnsmasq.conf": conf}, "push dnsmasq's files")
            if changed - {"ipam.json"}:  # what dnsmasq itself reads; not running: it reads them at start
                r.run(["docker", "kill", "--signal", "HUP", d.name], "reload dnsmasq", check=False)
            return bool(changed)

        if any(parallel(self.stack.dnsmasq_containers(), push)):
            say(f"  dnsmasq: files updated ({len(records)} address(es)), reloaded")
