"""containers.yaml: images, roles and containers, read strictly into a Stack and checked against the hosts and
the services dockstack runs (their definitions, handed in by whoever loads: config imports none); and what a load
made (passwords, TLS material), written once a command starts containers (keep_generated_secrets)."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Collection, Mapping
from pathlib import Path

from dockstack import imagearchive, masking, yamlfile
from dockstack.config.definition import ServiceDefinition
from dockstack.config.grammar import (
    CHECK_TIMEOUT_MAX,
    DNS_NAME_MAX,
    ENV_KEY_RE,
    GENERATED_RE,
    HIERA_KEY_RE,
    IMAGE_RE,
    IMAGE_TAG_RE,
    MAC_RE,
    PACKAGE_RE,
    PUPPET_CLASS_RE,
    SUITE_MAX,
    SUITE_RE,
    VRRP_PASSWORD_RE,
    image_problem,
    line_problem,
    short,
    volume_problem,
)
from dockstack.config.model import (
    ALL,
    DEFAULT_CONTAINERS_FILE,
    FILE_SUFFIX,
    GUEST,
    GUEST_BUSYBOX,
    GUEST_KERNEL_PREFIX,
    IMAGE_KINDS,
    MAJORITY,
    ONE,
    SECRETS_MOUNT,
    Balanced,
    Container,
    Image,
    Inventory,
    Role,
    Stack,
    Vip,
    effective_mac,
    is_secret,
    tiers,
)
from dockstack.config.reader import _Reader
from dockstack.config.secrets import (
    GeneratedSecrets,
    generated_keys,
    generated_secrets,
    retired_keys,
    secrets_file_for,
)
from dockstack.config.tls import StackTls, stack_tls
from dockstack.errors import ConfigError


def load_stack(inventory: Inventory, path: Path | str = DEFAULT_CONTAINERS_FILE, *,
               definitions: Mapping[str, ServiceDefinition]) -> Stack:
    """containers.yaml, checked against the hosts and the services dockstack runs: `definitions`, by name (the
    caller hands in services.registry.DEFINITIONS; they sit above config, which never imports them)."""
    path = Path(path)
    p = str(path)
    top = _Reader(p, "", yamlfile.load(path))
    top.unknown({"images", "roles", "containers", "secrets"})
    listed = _secrets(top)
    images: list[Image] = []
    raw_images = top.get("images", dict, {})
    for tag, raw in raw_images.items():
        problem = line_problem(str(tag)) or image_problem(str(tag), IMAGE_TAG_RE)
        if problem:
            raise top.fail(f"images.{tag}", problem, "name it NAME:TAG, e.g. dockstack/base:bookworm")
        images.append(_image(_Reader(p, f"images.{tag}", raw), str(tag), path.parent))
    roles: list[Role] = []
    for i, raw in enumerate(top.get("roles", list, required=True)):
        roles.append(_role(_Reader(p, f"roles[{i}]", raw if isinstance(raw, dict) else {"name": raw}), roles,
                           inventory, definitions))
    ports: dict[int, str] = {}
    balanced: dict[str, str] = {}
    for i, role in enumerate(roles):
        for b in role.balance:
            if b.port in ports:
                raise ConfigError(p, f"roles[{i}].balance", f"port {b.port} is already balanced for {ports[b.port]}",
                                  "haproxy binds one frontend per port")
            if b.name in balanced:
                raise ConfigError(p, f"roles[{i}].balance", f"service name {b.name!r} is already used by "
                                  f"{balanced[b.name]}", "haproxy needs unique frontend and backend names")
            ports[b.port], balanced[b.name] = role.name, role.name
    role_names = {x.name for x in roles}
    guests = {i.tag for i in images if i.is_guest}
    host_names = {h.name for h in inventory.hosts}
    net = inventory.network
    containers: list[Container] = []
    generated: GeneratedSecrets | None = None
    env_keys: set[str] = set()  # every containers[].env key, secret or not (what `secrets:` may list)
    for i, raw in enumerate(top.get("containers", list, required=True)):
        r = _Reader(p, f"containers[{i}]", raw)
        r.unknown({"name", "role", "host", "image", "mac", "ip", "volumes", "env", "command"})
        name = r.container_name("name")
        if any(c.name == name for c in containers):
            raise r.fail("name", f"duplicate container name {name!r}", "container names must be unique")
        if len(f"{name}.{net.domain}") > DNS_NAME_MAX:
            raise r.fail("name", f"{name}.{net.domain} is longer than {DNS_NAME_MAX} characters",
                         f"shorten the name or network.domain in {inventory.path}")
        role = r.name("role")
        if role not in role_names:
            raise r.fail("role", f"unknown role {role!r}", f"declare it under roles: ({', '.join(role_names)})")
        host = r.name("host")
        if host not in host_names:
            raise r.fail("host", f"unknown host {host!r}",
                         f"hosts in {inventory.path}: {', '.join(sorted(host_names))}")
        image = r.get("image", str, required=True)
        problem = image_problem(image, IMAGE_RE)
        if problem:
            raise r.fail("image", problem, "use an image reference like dockstack/base:bookworm")
        if image in guests:
            raise r.fail("image", f"{image} is a guest disk image (images.{image}.kind: guest), which nova boots: no "
                         "container runs it", "use a container image (one without kind: guest)")
        mac = r.get("mac", str, None)
        if mac is not None:
            mac = mac.lower()
            if not MAC_RE.fullmatch(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
                raise r.fail("mac", f"{mac!r} is not a unicast MAC address",
                              "write six hex pairs, e.g. 02:00:0a:64:00:0a")
        ip = r.ip("ip", None)
        if ip is not None:
            if ip not in net.subnet or ip in (net.subnet.network_address, net.subnet.broadcast_address):
                raise r.fail("ip", f"{ip} is outside the container subnet {net.subnet}",
                              f"pick a host address in {net.subnet} ({inventory.path}: network.subnet)")
            if net.gateway is not None and ip == net.gateway:
                raise r.fail("ip", f"{ip} is the network gateway", "pick another address")
        of_role = next(x for x in roles if x.name == role)
        definition = of_role.definition
        if definition and definition.provides_addresses and (mac is None or ip is None):
            raise r.fail("ip" if ip is None else "mac", f"a {definition.name} container needs a static mac and ip",
                         "set both: every other container gets its address from it")
        raw_env = _env(r, listed)
        env_keys.update(k for k, _ in raw_env)
        env, secrets = _secret_files(r, raw_env, listed)
        given: tuple[tuple[str, str], ...] = ()  # (secrets file key, value): those its own env does not set
        if definition and definition.secret_files:
            if generated is None:
                generated = generated_secrets(path, generated_keys(definitions.values()),
                                              retired_keys(definitions.values()))
            own = dict(raw_env)
            for k, f in definition.secret_files:  # an override goes where the generated value would: SQL, files
                others = sorted(d.name for d in definitions.values()
                                if d is not definition and k in dict(d.secret_files))
                if f in own and others:
                    raise r.fail(f"env.{f}", f"the {definition.name} containers share this secret with the "
                                 f"{', '.join(others)} containers, which a value here would not reach",
                                 f"drop it here and set {k} in {secrets_file_for(path)} instead")
                if f in own and not GENERATED_RE.fullmatch(own[f]):
                    raise r.fail(f"env.{f}", f"the secret value is not 24-128 letters and digits (a {definition.name} "
                                 "setting: it reaches SQL statements and config files, where a quote would break "
                                 "out)", "use 24-128 letters and digits, or drop the key to use the generated one "
                                 f"in {secrets_file_for(path)}")
            given = tuple((k, generated.values[k]) for k, f in definition.secret_files if f not in own)
            secrets = tuple((f, v) for f, v in generated.files_for(definition) if f not in own) + secrets
        volumes = _volumes(r)
        if secrets and any(v.split(":")[1].rstrip("/") == SECRETS_MOUNT for v in volumes):
            raise r.fail("volumes", f"a volume is mounted at {SECRETS_MOUNT}, where the container gets its secrets "
                         "(its service's passwords, its secret env values) as files",
                         f"mount it elsewhere: {SECRETS_MOUNT} is dockstack's")
        containers.append(Container(name=name, role=role, host=host, image=image, mac=mac, ip=ip,
                                    volumes=volumes, env=env, command=_command(r), service=of_role.service,
                                    vip=of_role.vip, definition=definition, secrets=secrets, generated=given))
    _check_collisions(p, containers)
    _check_vips(p, roles, containers)
    _check_serial(p, roles, containers)
    for j, k in enumerate(listed):
        if k not in env_keys:
            raise top.fail(f"secrets[{j}]", f"{k!r} is not an env key of any container",
                           "list keys of containers[].env (a misspelt name would leave the real key's value "
                           "unmasked), or remove it")
    providers = [c for c in containers if c.provides_addresses]
    if len(providers) > int(net.dhcp_end) - int(net.dhcp_start) + 1:
        raise ConfigError(inventory.path, "network.dhcp_range", f"too small to give each of the {len(providers)} "
                          "dnsmasq containers its own slice", "widen the range or use fewer dnsmasq containers")
    stack = Stack(path=p, images=tuple(images), roles=tuple(roles), containers=tuple(containers),
                  secrets=tuple(listed), generated=generated, tls=_tls(path, roles, containers, net.domain))
    _check_puppet(stack)
    return stack


def keep_generated_secrets(stack: Stack) -> str | None:
    """Before a command starts containers with generated passwords: write those this load made to the secrets
    file, so the next command reads the same ones. Returns the file's path when it wrote it."""
    saved = None
    if stack.generated is not None and stack.generated.save():
        saved = stack.generated.path
    if stack.tls is not None and stack.tls.save():  # the CA and the VIP's certificate, kept the same way
        saved = saved or stack.tls.path
    return saved


def tls_names(roles: list[Role], containers: list[Container], domain: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names and addresses clients reach haproxy's HTTPS frontends on: each VIP (name and address), else each
    container of the service that balances (its name, and its static address)."""
    vips = [r.vip for r in roles if r.vip is not None]
    if vips:
        return tuple(f"{v.name}.{domain}" for v in vips), tuple(str(v.ip) for v in vips)
    balancers = [c for c in containers if c.definition and c.definition.provides_vip]
    return tuple(f"{c.name}.{domain}" for c in balancers), tuple(str(c.ip) for c in balancers if c.ip is not None)


def _tls(path: Path, roles: list[Role], containers: list[Container], domain: str) -> StackTls | None:
    """The stack's TLS material when haproxy balances an HTTP service (it terminates TLS for each), else None."""
    if not any(b.mode == "http" for r in roles for b in r.balance):
        return None
    names, ips = tls_names(roles, containers, domain)
    return stack_tls(path, names, ips) if names else None


def _check_puppet(stack: Stack) -> None:
    """A role with classes runs the Puppet agent: a Puppet server must exist and be up in an earlier tier."""
    level = {r.name: i for i, tier in enumerate(tiers(stack)) for r in tier}
    server = stack.catalog_provider()
    for i, role in enumerate(stack.roles):
        if not role.classes or not stack.of_role(role.name):
            continue
        if server is None:
            raise ConfigError(stack.path, f"roles[{i}].classes", f"role {role.name!r} has Puppet classes but no "
                              "container runs a Puppet server", "add a role with service: puppet and a container "
                              "of it, or drop the classes")
        if level[role.name] <= level[server.role]:
            raise ConfigError(stack.path, f"roles[{i}].depends_on", f"role {role.name!r} runs the Puppet agent but "
                              f"deploys no later than the Puppet server's role {server.role!r}",
                              f"make it depend on {server.role!r} (or on a role deployed after it)")


def _image(r: _Reader, tag: str, base: Path) -> Image:
    """images.TAG: a Debian recipe (suite, packages) dockstack builds, or an archive the operator brings; `kind:
    guest` makes it a guest disk for nova (a kernel and busybox-static) instead of a container image."""
    r.unknown({"suite", "packages", "placeholders", "archive", "kind"})
    kind = r.get("kind", str, "container")
    if kind not in IMAGE_KINDS:
        raise r.fail("kind", f"{kind!r} is not a kind of image", "kind: container (the default: an image the "
                     "containers run) or kind: guest (a disk image nova boots, built from a kernel and busybox-static)")
    if kind == GUEST:
        return _guest(r, tag)
    if "archive" in r.data:
        recipe = sorted(k for k in ("suite", "packages", "placeholders") if k in r.data)
        if recipe:
            raise r.fail(recipe[0], "an image is either built (suite, packages) or brought as an archive, not both",
                         "drop suite and packages to ship the archive, or archive to build from Debian packages")
        return _archive(r, tag, base)
    suite = _suite(r)
    lists = {}
    for key in ("packages", "placeholders"):
        lists[key] = r.get(key, list, [])
        for j, x in enumerate(lists[key]):
            if not (isinstance(x, str) and PACKAGE_RE.fullmatch(x)):
                raise r.fail(f"{key}[{j}]", f"{x!r} is not a Debian package name",
                             "must be a list of Debian package names: 2+ of a-z, 0-9, '+', '-', '.', "
                             "starting with a letter or digit")
    both = sorted(set(lists["packages"]) & set(lists["placeholders"]))
    if both:
        raise r.fail("placeholders", f"{', '.join(both)} is also under packages",
                     "list a package under placeholders only when the suite lacks it")
    return Image(tag=tag, suite=suite, packages=tuple(lists["packages"]), placeholders=tuple(lists["placeholders"]))


def _guest(r: _Reader, tag: str) -> Image:
    """images.TAG with kind: guest: a suite and exactly the packages the guest disk is made of, one kernel package
    and busybox-static (guestimage.py takes the kernel's vmlinuz and modules and busybox, nothing else)."""
    fix = (f"a guest image lists packages: [{GUEST_KERNEL_PREFIX}cloud-amd64, {GUEST_BUSYBOX}] (one kernel package "
           f"{GUEST_KERNEL_PREFIX}*, and {GUEST_BUSYBOX})")
    for key in ("archive", "placeholders"):
        if key in r.data:
            raise r.fail(key, f"a guest image (kind: guest) has no {key}", fix)
    suite = _suite(r)
    packages = r.get("packages", list, required=True)
    for j, x in enumerate(packages):
        if not (isinstance(x, str) and PACKAGE_RE.fullmatch(x)):
            raise r.fail(f"packages[{j}]", f"{x!r} is not a Debian package name", fix)
    kernels = [x for x in packages if x.startswith(GUEST_KERNEL_PREFIX)]
    others = sorted(set(packages) - {*kernels, GUEST_BUSYBOX})
    problem = (f"{', '.join(others)} cannot go into it" if others
               else f"it lists {len(kernels)} kernel packages" if len(kernels) != 1
               else f"{GUEST_BUSYBOX} is missing" if GUEST_BUSYBOX not in packages
               else "a package is listed twice" if len(packages) != 2 else None)
    if problem:
        raise r.fail("packages", f"a guest image is made of one kernel and {GUEST_BUSYBOX}: {problem}", fix)
    return Image(tag=tag, suite=suite, packages=tuple(packages), kind=GUEST)


def _suite(r: _Reader) -> str:
    suite = r.get("suite", str, "bookworm")
    if not SUITE_RE.fullmatch(suite) or len(suite) > SUITE_MAX:
        raise r.fail("suite", f"{suite!r} is not a Debian suite or codename",
                     "e.g. bookworm, trixie, stable, bookworm-backports (lowercase words joined by '-')")
    return suite


def _archive(r: _Reader, tag: str, base: Path) -> Image:
    """images.TAG.archive: a `docker save` archive on this machine holding the image (tagged TAG, or its only
    image, which the hosts then tag TAG); its image ID read from the archive, which is never loaded here."""
    fix = "give the path of a `docker save` archive (e.g. docker save -o contrail-config.tar IMAGE); a relative " \
          "path is relative to this file's folder"
    v = r.file_path("archive")
    if not v:
        raise r.fail("archive", "missing", fix)
    path = Path(os.path.normpath(base / v))  # an absolute v stays itself
    try:
        if not path.exists():
            raise r.fail("archive", f"{path} does not exist", fix)
        if not path.is_file():
            raise r.fail("archive", f"{path} is not a file", fix)
        held = imagearchive.read(path)
        chosen = imagearchive.pick(held, tag)
    except OSError as exc:
        raise r.fail("archive", f"{path} cannot be read: {exc.strerror}",
                     "make it readable by the user running dockstack") from None
    except imagearchive.ArchiveError as exc:
        raise r.fail("archive", f"{path}: {exc}", fix) from None
    return Image(tag=tag, archive=str(path), archive_id=chosen.id)


def _volumes(r: _Reader) -> tuple[str, ...]:
    out = []
    for j, v in enumerate(r.get("volumes", list, [])):
        if not isinstance(v, str):
            raise r.fail(f"volumes[{j}]", f"{v!r} is not a string", "must be a list of 'SOURCE:TARGET[:MODE]' strings")
        problem = line_problem(v) or volume_problem(v)
        if problem:
            raise r.fail(f"volumes[{j}]", problem,
                         "write SOURCE:TARGET[:MODE]: SOURCE an absolute path or a volume name, TARGET an absolute "
                         "path, MODE ro, rw, z, Z or a combination like ro,z")
        out.append(v)
    return tuple(out)


def _secrets(top: _Reader) -> tuple[str, ...]:
    """`secrets:`: env keys whose values are secret although SECRET_KEY_RE does not match their names."""
    out: list[str] = []
    for j, k in enumerate(top.get("secrets", list, [])):
        if not (isinstance(k, str) and ENV_KEY_RE.fullmatch(k)):
            raise top.fail(f"secrets[{j}]", f"{k!r} is not an environment variable name",
                           "list env keys (letters, digits and '_', not starting with a digit), e.g. [DB_PASS]")
        if k in out:
            raise top.fail(f"secrets[{j}]", f"{k!r} is listed twice", "list each key once")
        out.append(k)
    return tuple(out)


def _env(r: _Reader, listed: Collection[str]) -> tuple[tuple[str, str], ...]:
    """containers[].env; an error about a secret value (is_secret) never quotes it."""
    out = []
    for k, v in r.get("env", dict, {}, hide=True).items():  # a list like [DB_PASSWORD=x] is not echoed
        if not (isinstance(k, str) and ENV_KEY_RE.fullmatch(k)):
            raise r.fail(f"env.{k}", f"{k!r} is not an environment variable name",
                         "use letters, digits and '_', not starting with a digit")
        secret = is_secret(k, listed)
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            shown = f"the secret value (a {type(v).__name__})" if secret else repr(v)
            raise r.fail(f"env.{k}", f"{shown} is not a string or a number",
                         "quote the value, e.g. 'true' or '' (YAML reads true, yes and an empty value otherwise)")
        problem = line_problem(str(v), secret)
        if problem:
            raise r.fail(f"env.{k}", problem, "write it on one line, without control characters")
        out.append((k, str(v)))
    return tuple(out)


def _secret_files(r: _Reader, env: tuple[tuple[str, str], ...],
                  listed: Collection[str]) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """containers[].env split into what `docker run` gets as env and the secret files: a secret value (is_secret)
    never goes to the env, where `docker inspect` and every process of the container would show it; it becomes the
    file SECRETS_MOUNT/KEY (readable by root only) and the env gets KEY_FILE, its path: the convention of images
    that read their secrets from files (mariadb's MARIADB_PASSWORD_FILE, postgres's POSTGRES_PASSWORD_FILE, ...)."""
    keys = {k for k, _ in env}
    plain: list[tuple[str, str]] = []
    secrets: list[tuple[str, str]] = []
    for k, v in env:
        if not is_secret(k, listed):
            plain.append((k, v))
            continue
        if k + FILE_SUFFIX in keys:
            raise r.fail(f"env.{k}{FILE_SUFFIX}", f"the secret {k} reaches the container as a file, whose path "
                         f"dockstack puts in {k}{FILE_SUFFIX}", f"drop {k}{FILE_SUFFIX} (it will be "
                         f"{SECRETS_MOUNT}/{k}), or give the secret another name")
        plain.append((k + FILE_SUFFIX, f"{SECRETS_MOUNT}/{k}"))
        secrets.append((k, v))
    return tuple(plain), tuple(secrets)


def _command(r: _Reader) -> tuple[str, ...]:
    raw = r.get("command", (list, str), [])
    items = [("command", raw)] if isinstance(raw, str) else [(f"command[{j}]", x) for j, x in enumerate(raw)]
    out = []
    for k, x in items:
        if isinstance(x, bool) or not isinstance(x, (str, int)):
            raise r.fail(k, f"{x!r} is not a string", "must be a string or a list of strings")
        out.append(r.line(k, str(x)))
    if out and (not out[0] or out[0].startswith("-")):
        raise r.fail(items[0][0], f"the program {out[0]!r} is empty or starts with '-'",
                     "start the command with the program to run, e.g. [sleep, infinity]")
    return tuple(out)


def _role(r: _Reader, earlier: list[Role], inventory: Inventory,
          definitions: Mapping[str, ServiceDefinition]) -> Role:
    r.unknown({"name", "depends_on", "check", "check_timeout", "settle", "classes", "hieradata", "balance", "service",
               "vip", "serial", "quorum"})
    name = r.name("name")
    if any(x.name == name for x in earlier):
        raise r.fail("name", f"duplicate role {name!r}", "role names must be unique")
    default = [earlier[-1].name] if earlier else []
    deps = r.get("depends_on", list, default)
    known = [x.name for x in earlier]
    for j, d in enumerate(deps):
        if d not in known:
            raise r.fail(f"depends_on[{j}]", f"{d!r} is not a role listed before {name!r}",
                         "roles are listed in deploy order; a role can only depend on earlier ones")
    service = r.get("service", str, None)
    if service is not None and service not in definitions:
        raise r.fail("service", f"{service!r} is not a service dockstack runs",
                     f"use one of {', '.join(definitions)}, or leave it out for your own image's command")
    definition = definitions[service] if service is not None else None
    timeout = r.get("check_timeout", (int, float), definition.check_timeout if definition else 60)
    if not (math.isfinite(timeout) and 0 < timeout <= CHECK_TIMEOUT_MAX):
        raise r.fail("check_timeout", f"{short(str(timeout))} is not a number of seconds from 0 to {CHECK_TIMEOUT_MAX}",
                     "e.g. 60")
    settle = r.get("settle", (int, float), definition.settle if definition else 0)
    if not (math.isfinite(settle) and 0 <= settle <= CHECK_TIMEOUT_MAX):
        raise r.fail("settle", f"{short(str(settle))} is not a number of seconds from 0 to {CHECK_TIMEOUT_MAX}",
                     "how long a failing check may be a blip the service's own supervisor heals, e.g. 45 (0: none)")
    classes = r.get("classes", list, [])
    for j, c in enumerate(classes):
        if not (isinstance(c, str) and PUPPET_CLASS_RE.fullmatch(c)):
            raise r.fail(f"classes[{j}]", f"{c!r} is not a puppet class name",
                         "must be a list of puppet class names: [a-z][a-z0-9_]* joined by '::', e.g. profile::galera")
    hieradata = _hieradata(r, classes)
    reserved = {port: (d.name, what) for d in definitions.values() for port, what in d.reserved_ports}
    balance = []
    for j, raw in enumerate(r.get("balance", list, [])):
        b = _Reader(r.path, f"{r.where}.balance[{j}]", raw)
        b.unknown({"name", "port", "mode"})
        port = b.get("port", int, required=True)
        if not 0 < port < 65536:
            raise b.fail("port", f"{port} is not a TCP port", "use 1-65535")
        if port in reserved:
            owner, what = reserved[port]
            raise b.fail("port", f"{port} is {what} in dockstack's {owner} containers",
                         "balance the service on another port")
        mode = b.get("mode", str, "tcp")
        if mode not in ("tcp", "http"):
            raise b.fail("mode", f"{mode!r} is not tcp or http", "use tcp or http")
        balance.append(Balanced(name=b.name("name"), port=port, mode=mode))
    ports = [x.port for x in balance]
    if len(ports) != len(set(ports)):
        raise r.fail("balance", "two services on the same port", "give each balanced service its own port")
    check = r.get("check", str, None)  # free shell text, one argument of `sh -c`: get() refuses newlines and NUL
    if check is not None and not check.strip():
        raise r.fail("check", "is empty (it would pass at once, whatever runs)",
                     "write the readiness command, or leave the key out for a role without one")
    if check is None and definition is not None:
        check = definition.check  # the service's own readiness check
    if definition and definition.provides_catalog and any(x.definition and x.definition.provides_catalog
                                                          for x in earlier):
        first = next(x.name for x in earlier if x.definition and x.definition.provides_catalog)
        raise r.fail("service", f"role {first!r} already runs the Puppet server (the agents ask only one)",
                     f"put the Puppet server's containers in role {first!r}")
    vip = None
    if r.data.get("vip") is not None:
        if not (definition and definition.provides_vip):
            holders = ", ".join(d.name for d in definitions.values() if d.provides_vip)
            raise r.fail("vip", "a virtual IP needs the role's containers to run haproxy and keepalived",
                         f"set service: {holders} on this role, or move vip: to that role")
        vip = _vip(_Reader(r.path, f"{r.where}.vip", r.data["vip"]), inventory)
    serial = r.get("serial", int, definition.serial if definition else 1)
    if not 1 <= serial <= 100:
        raise r.fail("serial", f"{serial} is not a number of containers from 1 to 100",
                     "how many running containers of the role a change may take down at once, e.g. 1")
    quorum = r.get("quorum", (str, int), definition.quorum if definition else ALL)
    if not (quorum in (ALL, MAJORITY, ONE) or (isinstance(quorum, int) and 1 <= quorum <= 100)):
        raise r.fail("quorum", f"{short(str(quorum))} is not all, majority, one or a number from 1 to 100",
                     "how many of the role's containers must pass for it to serve, e.g. majority")
    return Role(name=name, depends_on=tuple(deps), check=check, check_timeout=float(timeout), settle=float(settle),
                definition=definition, classes=tuple(classes), hieradata=hieradata, balance=tuple(balance),
                service=service, vip=vip, serial=serial, quorum=str(quorum))


HieraValue = str | int | float | bool


def _hieradata(r: _Reader, classes: list[str]) -> tuple[tuple[str, HieraValue | tuple[HieraValue, ...]], ...]:
    """roles[].hieradata: Hiera keys the agents of the role's containers look up (a class's parameters, CLASS::PARAM)
    and their values (a string, number or boolean, or a list of them), in each of its nodes' hieradata, before
    common.yaml. dockstack's own keys (dockstack::..., rendered from the config) and Hiera interpolation (`%{`, which
    could read any key or fact) are refused."""
    raw = r.get("hieradata", dict, {})
    if raw and not classes:
        raise r.fail("hieradata", "the role has no classes: no Puppet agent of it looks these keys up",
                     "give the role its classes, or leave hieradata out")
    out = []
    for key, value in raw.items():
        k = f"hieradata.{key}"
        if not (isinstance(key, str) and HIERA_KEY_RE.fullmatch(key)):
            raise r.fail("hieradata", f"{short(repr(key))} is not a Hiera key of a class",
                         "name a class's parameter, e.g. profile::galera::buffer_pool_size")
        if key.startswith("dockstack::"):
            raise r.fail(k, "dockstack renders the dockstack:: keys from the rest of the config",
                         "change what they say in containers.yaml itself, or set a class's parameter")
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, (str, int, float, bool)) or (isinstance(v, float) and not math.isfinite(v)):
                raise r.fail(k, f"{short(repr(v))} is not a string, number or boolean",
                             "give a string, a number, a boolean, or a list of them")
            if isinstance(v, str) and "%{" in r.line(k, v):
                raise r.fail(k, "Hiera interpolation (%{...}) is not taken here",
                             "write the value itself")
        out.append((key, tuple(value) if isinstance(value, list) else value))
    return tuple(sorted(out))


def _vip(r: _Reader, inventory: Inventory) -> Vip:
    """roles[].vip: an address of the container subnet that DHCP never hands out, its DNS name, the VRRP router
    id and password; an error about the password never quotes it."""
    r.unknown({"ip", "name", "router_id", "password"})
    net = inventory.network
    ip = r.ip("ip")
    if ip is None:  # r.ip without a default raises on a missing key; this keeps the type checker told
        raise r.fail("ip", "missing", "add this key")
    where = f"{inventory.path}: network"
    if ip not in net.subnet or ip in (net.subnet.network_address, net.subnet.broadcast_address):
        raise r.fail("ip", f"{ip} is outside the container subnet {net.subnet}",
                     f"pick a host address in {net.subnet} ({where}.subnet)")
    if net.dhcp_start <= ip <= net.dhcp_end:
        raise r.fail("ip", f"{ip} is inside dhcp_range {net.dhcp_start}-{net.dhcp_end}",
                     f"pick an address of {net.subnet} outside the range dnsmasq leases ({where}.dhcp_range)")
    if net.gateway is not None and ip == net.gateway:
        raise r.fail("ip", f"{ip} is the network gateway", "pick another address")
    name = r.name("name") if r.data.get("name") is not None else "vip"
    rid = r.get("router_id", int, required=True)
    if not 1 <= rid <= 255:
        raise r.fail("router_id", f"{rid} is not a VRRP virtual router id",
                     "use 1-255, one no other VRRP router on the segment uses")
    password = r.data.get("password")  # not r.get(): its one-line check quotes the value
    if password is None:
        raise r.fail("password", "missing", "add this key (4-8 characters; a secret, never printed)")
    if not isinstance(password, str):
        raise r.fail("password", f"the secret value (a {type(password).__name__}) is not a string",
                     "quote the password in YAML")
    problem = line_problem(password, secret=True)
    if problem:
        raise r.fail("password", problem, "write it on one line, without control characters")
    if not VRRP_PASSWORD_RE.fullmatch(password):
        raise r.fail("password", f"the secret value {masking.MASK} is not 4-8 characters of letters, digits and "
                     "_ . , : + = % @ / -", "keepalived uses 8 characters at most; choose another password")
    return Vip(ip=ip, name=name, router_id=rid, password=password)


def _check_serial(path: str, roles: list[Role], containers: list[Container]) -> None:
    """A rolling change takes `serial` running containers of a role down at once: more than its quorum can spare
    would take an available role down with a planned change (a role that can spare none, one container or quorum
    all, goes down with any change; serial says nothing there)."""
    for i, role in enumerate(roles):
        members = sum(c.role == role.name for c in containers)
        need = role.quorum_of(members)
        spare = members - need
        if 1 <= spare < role.serial:
            raise ConfigError(path, f"roles[{i}].serial",
                              f"{role.serial} would take {role.serial} of role {role.name}'s {members} containers down "
                              f"at once, leaving {members - role.serial}, below its quorum of {need} ({role.quorum})",
                              f"set serial: {spare} or less, or a smaller quorum if the role serves with fewer")


def _check_vips(path: str, roles: list[Role], containers: list[Container]) -> None:
    """A VIP's address, DNS name, router id and MAC belong to it alone; its role's containers have static
    addresses, since keepalived speaks VRRP to those addresses only (unicast) and hears no one else."""
    seen: dict[object, str] = {}
    for i, role in enumerate(roles):
        if role.vip is None:
            continue
        key = f"roles[{i}].vip"
        for j, c in enumerate(containers):
            if c.role == role.name and c.ip is None:
                raise ConfigError(path, f"containers[{j}].ip", f"container {c.name} has no static ip, and its role "
                                  f"{role.name} has a vip: keepalived sends VRRP adverts to its peers' addresses "
                                  "only and ignores any other sender, so they must be fixed",
                                  "give it an ip of the subnet outside dhcp_range (a running one: the address "
                                  "`inv ipam.show` lists for it keeps it where it is)")
        for c in containers:
            if c.ip == role.vip.ip:
                raise ConfigError(path, f"{key}.ip", f"{role.vip.ip} is already the static ip of container {c.name}",
                                  "give the VIP an address no container uses")
            if c.name == role.vip.name:
                raise ConfigError(path, f"{key}.name", f"{role.vip.name!r} is already the name of a container",
                                  "give the VIP a DNS name no container uses (e.g. vip)")
            if effective_mac(c) == role.vip.mac:
                raise ConfigError(path, f"{key}.router_id", f"container {c.name}'s MAC {role.vip.mac} is the VRRP "
                                  f"MAC of router id {role.vip.router_id}", "change the MAC or the router id")
        for what, value in (("ip", role.vip.ip), ("name", role.vip.name), ("router_id", role.vip.router_id)):
            if (what, value) in seen:
                raise ConfigError(path, f"{key}.{what}", f"{value} is already used by the vip of role "
                                  f"{seen[what, value]}", "each virtual IP needs its own address, name and router id")
            seen[what, value] = role.name


def _check_collisions(path: str, containers: list[Container]) -> None:
    seen_ip: dict[ipaddress.IPv4Address, str] = {}
    seen_mac: dict[str, str] = {}
    for i, c in enumerate(containers):
        if c.ip is not None:
            if c.ip in seen_ip:
                raise ConfigError(path, f"containers[{i}].ip", f"{c.ip} is already the address of {seen_ip[c.ip]}",
                                  "every container needs its own address")
            seen_ip[c.ip] = c.name
    for i, c in enumerate(containers):
        mac = effective_mac(c)
        if mac is not None:
            if mac in seen_mac:
                derived = "" if c.mac else f" (derived from its static ip {c.ip})"
                raise ConfigError(path, f"containers[{i}].{'mac' if c.mac else 'ip'}",
                                  f"{mac}{derived} is already the MAC of {seen_mac[mac]}",
                                  "every container needs its own MAC")
            seen_mac[mac] = c.name
