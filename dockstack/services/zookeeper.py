"""zookeeper: ZooKeeper under dockstack's supervisor, started once Puppet wrote its zoo.cfg (profile::zookeeper
finds the ensemble by service, so the role's name is free); its data lives in its host folder's data/."""

from __future__ import annotations

from dockstack.config import MAJORITY, Container
from dockstack.render import render
from dockstack.services.base import Service

MOUNT = "/var/lib/dockstack/zookeeper"  # supervisor and four-letter-word client
DATA = "/var/lib/zookeeper"  # Debian's dataDir: the host folder's data/
CFG = "/etc/zookeeper/conf_dockstack/zoo.cfg"  # written by profile::zookeeper (Puppet)
CLIENT_PORT = 2181  # profile::zookeeper's client_port: where `ask` (the readiness check) asks
WORDS = ("ruok", "srvr")  # the four-letter words zoo.cfg whitelists and `ask` sends
# the JVM: a 128 MiB heap (plenty for the control plane's few znodes), the client compiler only and the serial
# collector, which start it faster and smaller on a small machine (the JVM's defaults size the heap from the
# host's memory)
JAVA_ARGS = ("-Xms32m", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:+CrashOnOutOfMemoryError")
# Debian's zookeeper.jar names its dependencies in its manifest; SLF4J's log4j binding and log4j 1.2 (Debian's
# libzookeeper-java depends on both) make it log through Debian's log4j.properties
CLASSPATH = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar")
START_FILES = ("entrypoint", "ask")


def render_file(name: str) -> str:
    """Its supervisor (`entrypoint`) or four-letter-word client (`ask`): constant for the stack."""
    return render(f"zookeeper/{name}.sh.j2", mount=MOUNT, cfg=CFG, data=DATA, port=CLIENT_PORT, words=WORDS,
                  java_args=JAVA_ARGS, classpath=CLASSPATH)


class Zookeeper(Service):
    def start_files(self, c: Container) -> dict[str, str]:
        return {name: render_file(name) for name in START_FILES}


SERVICE = Zookeeper(
    name="zookeeper",
    # ready when it answers ruok with imok (the JVM takes a few seconds)
    check=f'test "$(bash {MOUNT}/ask ruok)" = imok', check_timeout=120,
    quorum=MAJORITY,  # an ensemble serves while a majority of it runs
    mount=MOUNT,
    read_only_mount=True,  # it only reads its folder
    command=("sh", f"{MOUNT}/entrypoint"),
    data=(("data", DATA),),
)
