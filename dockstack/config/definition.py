"""What reading containers.yaml asks of a service's definition. The definitions live in dockstack/services/, above
config (they render files from a loaded Stack): whoever loads a stack hands them in (load_stack's `definitions`),
so config never imports them and the import graph stays one way."""

from __future__ import annotations

from typing import Protocol


class ServiceDefinition(Protocol):
    """A service dockstack runs, as loading sees it (services.base.Service is one). Its capabilities tell the
    engine what a platform service does for the others, so nothing below the services names one."""

    @property
    def name(self) -> str:
        """What a role's `service:` says."""
        ...

    @property
    def provides_addresses(self) -> bool:
        """DHCP and DNS for the other containers: its own need a static mac and ip; it keeps the address book."""
        ...

    @property
    def provides_catalog(self) -> bool:
        """The server the agents of every role with classes ask for their catalog: one role of a stack at most."""
        ...

    @property
    def provides_vip(self) -> bool:
        """Its containers balance the `balance:` services and hold a role's virtual IP: its role may have a vip."""
        ...

    @property
    def reserved_ports(self) -> tuple[tuple[int, str], ...]:
        """(port, what uses it) in its containers: no balanced service may take one."""
        ...

    @property
    def secret_files(self) -> tuple[tuple[str, str], ...]:
        """(secrets file key, file name): the passwords dockstack makes for its containers, each a file of
        SECRETS_MOUNT in them that only root reads (never an env value)."""
        ...

    @property
    def retired_secrets(self) -> tuple[str, ...]:
        """Secrets file keys an older dockstack made for it and no container gets any more: a secrets file that still
        holds one is read without complaint (and written again without it)."""
        ...

    @property
    def check(self) -> str | None:
        """The readiness check of a role that gives none."""
        ...

    @property
    def check_timeout(self) -> float:
        """Its bound, when the role gives none."""
        ...

    @property
    def settle(self) -> float:
        """Seconds a failing check may be a blip that the service's own supervisor heals (deploy-all asks the check
        again meanwhile, before it repairs the container), when the role gives none."""
        ...

    @property
    def serial(self) -> int:
        """Running containers of a role a planned change takes down at once, when the role gives none."""
        ...

    @property
    def quorum(self) -> str:
        """How many of a role's containers must pass for it to serve (all | majority | one | N), when it gives none."""
        ...
