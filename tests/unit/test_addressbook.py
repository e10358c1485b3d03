"""dockstack.addressbook: merging the copies, delta changes, the transaction's payload, argv and output."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import tarfile
import time
from dataclasses import replace

import pytest

from dockstack import addressbook, ipam
from dockstack.addressbook import Book, Change
from dockstack.errors import DockstackError
from dockstack.facts import BookCopy, Lease, Record
from dockstack.services import service_dir

DOMAIN = "dockstack.lab"


def rec(name: str, n: int, source: str = ipam.LEASE) -> Record:
    """A record whose MAC and IP are derived from n (1-254), so two records never collide."""
    return Record(name, "app", "host1", f"02:42:0a:64:00:{n:02x}", f"10.100.0.{n}", source)


WEB = rec("web", 150)
DB = rec("db", 151)
DNS = Record("dns", "dnsmasq", "host1", "02:00:0a:64:00:02", "10.100.0.2", ipam.STATIC)


def copy(name: str, generation: int, *records: Record, released: tuple[str, ...] = (),
         leases: tuple[Lease, ...] = ()) -> BookCopy:
    return BookCopy(name, generation, {r.name: r for r in records}, released, leases)


def untar(data: bytes) -> dict[str, str]:
    """path -> text of every member of a payload."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            assert m.isfile()
            assert m.mode == 0o644
            out[m.name] = tar.extractfile(m).read().decode()
    return out


# --- Book ---------------------------------------------------------------------------------------


def test_book_known_is_the_registry_over_the_leases():
    book = Book({"web": WEB}, (), (Lease(100, "02:42:0a:64:00:99", "10.100.0.199", "web"),
                                   Lease(100, "02:42:0a:64:00:98", "10.100.0.198", "old")))
    assert book.known() == {"web": (WEB.mac, WEB.ip), "old": ("02:42:0a:64:00:98", "10.100.0.198")}


def test_empty_book():
    assert Book().known() == {}
    assert Book().generation == 0


# --- merge --------------------------------------------------------------------------------------


def test_merge_nothing():
    assert addressbook.merge([]) == (Book(), [])


def test_merge_one_copy():
    book, notes = addressbook.merge([copy("dns", 3, DNS, WEB, released=("10.100.0.160",))])
    assert book == Book({"dns": DNS, "web": WEB}, ("10.100.0.160",), (), 3)
    assert notes == []


def test_merge_identical_copies_have_no_notes():
    book, notes = addressbook.merge([copy("dns", 4, DNS, WEB), copy("dns2", 4, DNS, WEB)])
    assert book.records == {"dns": DNS, "web": WEB}
    assert notes == []


@pytest.mark.parametrize("order", [0, 1])
def test_merge_newest_generation_wins_even_with_fewer_records(order):
    newest = copy("dns2", 9, DNS, released=("10.100.0.150",))  # web was released at generation 9
    older = copy("dns", 8, DNS, WEB)
    copies = [newest, older] if order else [older, newest]
    book, notes = addressbook.merge(copies)
    assert book == Book({"dns": DNS}, ("10.100.0.150",), (), 9)
    assert notes == ["address book of dns (generation 8) differs from dns2's (generation 9): repaired from the newest"]


def test_merge_same_generation_prefers_more_records():
    book, _ = addressbook.merge([copy("dns", 5, DNS), copy("dns2", 5, DNS, WEB)])
    assert book.records == {"dns": DNS, "web": WEB}


def test_merge_takes_the_leases_of_every_copy():
    a = Lease(100, "02:42:0a:64:00:a0", "10.100.0.160", "x")
    b = Lease(200, "02:42:0a:64:00:a1", "10.100.0.161", "y")
    book, _ = addressbook.merge([copy("dns", 2, DNS, leases=(a,)), copy("dns2", 1, leases=(b,))])
    assert set(book.leases) == {a, b}
    assert set(book.known()) == {"dns", "x", "y"}


def test_merge_notes_each_copy_that_differs():
    copies = [copy("dns", 6, DNS, WEB), copy("dns2", 6, DNS, WEB, DB), copy("dns3", 2), copy("dns4", 6, DNS, WEB, DB)]
    book, notes = addressbook.merge(copies)
    assert book.records == {"dns": DNS, "web": WEB, "db": DB}
    assert book.generation == 6
    assert len(notes) == 2
    assert "address book of dns (generation 6) differs from dns2's (generation 6)" in notes[0]
    assert "address book of dns3 (generation 2) differs from dns2's" in notes[1]


def test_merge_notes_a_copy_whose_quarantine_differs():
    _, notes = addressbook.merge([copy("dns", 3, DNS, released=("10.100.0.150",)), copy("dns2", 2, DNS)])
    assert [n.split(" (")[0] for n in notes] == ["address book of dns2"]


def test_merge_does_not_share_the_copys_dict():
    c = copy("dns", 1, DNS)
    book, _ = addressbook.merge([c])
    book.records["web"] = WEB
    assert c.records == {"dns": DNS}


# --- Change ---------------------------------------------------------------------------------------


def test_empty_change_is_false():
    assert not Change()
    assert Change(puts=(WEB,))
    assert Change(deletes=("web",))
    assert Change(releases=(("web", WEB.ip, WEB.mac),))


def test_add_keeps_what_only_one_side_touches():
    a = Change(puts=(WEB,), deletes=("old",))
    b = Change(puts=(DB,), releases=(("gone", "10.100.0.170", "02:42:0a:64:00:aa"),))
    assert a + b == Change(puts=(WEB, DB), deletes=("old",), releases=(("gone", "10.100.0.170", "02:42:0a:64:00:aa"),))


def test_add_later_put_replaces_earlier_put():
    moved = Record("web", "app", "host2", WEB.mac, WEB.ip, ipam.LEASE)
    assert Change(puts=(WEB, DB)) + Change(puts=(moved,)) == Change(puts=(DB, moved))


def test_add_later_delete_drops_earlier_put():
    assert Change(puts=(WEB, DB)) + Change(deletes=("web",)) == Change(puts=(DB,), deletes=("web",))


def test_add_later_put_drops_earlier_delete_and_release():
    earlier = Change(deletes=("web",), releases=(("db", DB.ip, DB.mac),))
    assert earlier + Change(puts=(WEB, DB)) == Change(puts=(WEB, DB))


def test_add_later_release_drops_earlier_put():
    release = ("web", WEB.ip, WEB.mac)
    assert Change(puts=(WEB,)) + Change(releases=(release,)) == Change(releases=(release,))


def test_add_is_not_symmetric():
    put, delete = Change(puts=(WEB,)), Change(deletes=("web",))
    assert put + delete == delete
    assert delete + put == put


def test_add_empty_changes():
    c = Change(puts=(WEB,), deletes=("x",), releases=(("y", "10.100.0.9", "02:42:0a:64:00:09"),))
    assert Change() + c == c
    assert c + Change() == c


# --- repairs ----------------------------------------------------------------------------------------


def test_repairs_a_missing_copy_gets_every_record_sorted():
    book = Book({"web": WEB, "dns": DNS, "db": DB})
    assert addressbook.repairs(book, None) == Change(puts=(DB, DNS, WEB))


def test_repairs_an_equal_copy_needs_nothing():
    book = Book({"web": WEB, "dns": DNS}, generation=4)
    change = addressbook.repairs(book, copy("dns2", 2, DNS, WEB))
    assert change == Change()
    assert not change


def test_repairs_puts_missing_and_differing_records_and_deletes_extra_ones():
    stale = Record("web", "app", "host1", "02:42:0a:64:00:01", "10.100.0.101", ipam.LEASE)
    book = Book({"dns": DNS, "web": WEB, "db": DB})
    change = addressbook.repairs(book, copy("dns2", 1, DNS, stale, rec("zz", 200), rec("gone", 201)))
    assert change == Change(puts=(DB, WEB), deletes=("gone", "zz"))


def test_repairs_of_an_empty_book_delete_everything():
    assert addressbook.repairs(Book(), copy("dns2", 1, DNS, WEB)) == Change(deletes=("dns", "web"))


def test_repairs_give_a_copy_the_books_quarantine_when_it_differs():
    book = Book({"dns": DNS}, released=("10.100.0.150", "10.100.0.151"))
    change = addressbook.repairs(book, copy("dns2", 1, DNS, released=("10.100.0.150",)))
    assert change == Change(quarantine=("10.100.0.150", "10.100.0.151"))
    assert change  # a quarantine-only repair is still a change to send
    assert addressbook.repairs(book, copy("dns2", 1, DNS, released=book.released)).quarantine is None
    assert addressbook.repairs(Book({"dns": DNS}), copy("dns2", 1, DNS, released=("10.100.0.9",))) == \
        Change(quarantine=())


def test_payload_of_a_quarantine_repair_resets_then_lists_in_order_before_releases():
    change = Change(quarantine=("10.100.0.150", "10.100.0.151")) + Change(releases=(("web", "10.100.0.160",
                                                                                       WEB.mac),))
    files = untar(addressbook.payload([change], DOMAIN))
    assert files["ops/1"].splitlines() == ["unquarantine", "quarantine 10.100.0.150", "quarantine 10.100.0.151",
                                         f"release web 10.100.0.160 {WEB.mac}"]
    assert files["quarantine/10.100.0.151"] == f"{ipam.quarantine_mac('10.100.0.151')},10.100.0.151\n"


def test_change_add_keeps_a_quarantine_repair_unless_the_later_change_has_one():
    repair = Change(quarantine=("10.100.0.150",))
    assert (repair + Change(puts=(WEB,))).quarantine == ("10.100.0.150",)
    assert (repair + Change(quarantine=())).quarantine == ()


# --- payload --------------------------------------------------------------------------------------------


def test_payload_is_a_gzip_tar():
    assert addressbook.payload([Change(puts=(WEB,))], DOMAIN)[:2] == b"\x1f\x8b"


def test_payload_of_a_put_holds_its_three_rendered_files():
    assert untar(addressbook.payload([Change(puts=(WEB,))], DOMAIN)) == {
        "ops/1": "put web\n",
        "put/web.record": "web app host1 02:42:0a:64:00:96 10.100.0.150 lease\n",
        "put/web.dhcp": "02:42:0a:64:00:96,web,10.100.0.150\n",
        "put/web.host": "10.100.0.150 web.dockstack.lab web\n",
    }


def test_payload_of_a_delete_is_only_its_op():
    assert untar(addressbook.payload([Change(deletes=("web", "db"))], DOMAIN)) == {"ops/1": "del web\ndel db\n"}


def test_payload_of_a_release_holds_the_quarantine_entry():
    files = untar(addressbook.payload([Change(releases=(("web", "10.100.0.150", "02:42:0a:64:00:96"),))], DOMAIN))
    assert files == {"ops/1": "release web 10.100.0.150 02:42:0a:64:00:96\n",
                     "quarantine/10.100.0.150": "02:ff:0a:64:00:96,10.100.0.150\n"}


def test_payload_ops_order_puts_deletes_releases():
    change = Change(puts=(WEB, DB), deletes=("old",), releases=(("gone", "10.100.0.170", "02:42:0a:64:00:aa"),))
    files = untar(addressbook.payload([change], DOMAIN))
    assert files["ops/1"].splitlines() == ["put web", "put db", "del old",
                                           "release gone 10.100.0.170 02:42:0a:64:00:aa"]
    assert sorted(files) == ["ops/1", "put/db.dhcp", "put/db.host", "put/db.record", "put/web.dhcp", "put/web.host",
                             "put/web.record", "quarantine/10.100.0.170"]


def test_payload_of_an_empty_change_has_no_ops():
    assert untar(addressbook.payload([Change()], DOMAIN)) == {"ops/1": ""}


def test_payload_of_one_put_does_not_grow_with_the_book():
    """A delta: committing one new record into a book of 100 sends what committing it into an empty book does."""
    new = rec("new", 250)
    big = {f"c{i}": rec(f"c{i}", 10 + i) for i in range(100)}
    change = addressbook.repairs(Book({**big, "new": new}), copy("dns", 7, *big.values()))
    assert change == Change(puts=(new,))
    alone = addressbook.payload([Change(puts=(new,))], DOMAIN)
    in_big_book = addressbook.payload([change], DOMAIN)
    assert len(in_big_book) == len(alone)
    assert untar(in_big_book) == untar(alone)
    assert len(untar(in_big_book)) == 4  # ops + the record's three files, nothing of the other 100


def test_payload_files_per_put_stay_constant():
    records = [rec(f"c{i}", 10 + i) for i in range(100)]
    files = untar(addressbook.payload([Change(puts=tuple(records))], DOMAIN))
    assert len(files) == 1 + 3 * len(records)
    assert all(text.count("\n") == 1 for path, text in files.items() if path != "ops/1")  # one line per file
    assert len(files["ops/1"].splitlines()) == 100


# --- txn_argv / TXN_SCRIPT ---------------------------------------------------------------------------------


@pytest.fixture
def dns(container):
    return container("dns", role="dnsmasq", mac="02:00:0a:64:00:02", ip="10.100.0.2")


def test_txn_argv_passes_every_value_as_its_own_argument(dns):
    who = "ops@box pid 42 running `inv deploy-all` since 2026-01-01T00:00:00Z; $(id)"
    copies = [addressbook.Copy("host1", service_dir(dns), "dns"), addressbook.Copy("host1", addressbook.REPLICA_DIR)]
    argv = addressbook.txn_argv(copies, 60.0, who, 7)
    assert argv == ["sh", "-c", addressbook.TXN_SCRIPT, "sh", "60", who, "7", "/var/lib/dockstack/dnsmasq/dns", "dns",
                    "/var/lib/dockstack/addressbook", ""]
    assert who not in addressbook.TXN_SCRIPT


@pytest.mark.parametrize(("timeout", "text"), [(60.0, "60"), (2.5, "2.5"), (0.25, "0.25"), (600, "600")])
def test_txn_argv_timeout(timeout, text):
    assert addressbook.txn_argv([addressbook.Copy("h", "/x")], timeout, "me")[4] == text


def test_txn_script_arguments_match_txn_argv():
    pairs = re.findall(r"\b(\w+)=\$(\d+)\b", addressbook.TXN_SCRIPT)
    assert pairs == [("timeout", "1"), ("holder", "2"), ("known", "3")]  # then (folder, dnsmasq) pairs


def test_copies_of_a_stack_are_each_dnsmasqs_then_one_replica_per_host(cfg):
    inv, stack = cfg.load()
    dns = stack.address_providers()[0]
    assert addressbook.copies_of(inv, stack) == [addressbook.Copy(dns.host, service_dir(dns), dns.name)] + [
        addressbook.Copy(h.name, addressbook.REPLICA_DIR) for h in inv.hosts]


def test_the_replica_folder_is_no_service_folder():
    """SERVICE_ROOT/SERVICE/NAME are the service containers' folders: the replica is beside them, never in one."""
    from dockstack.services import SERVICE_ROOT
    from dockstack.services.registry import DEFINITIONS
    assert addressbook.REPLICA_DIR.rpartition("/") == (SERVICE_ROOT, "/", "addressbook")
    assert "addressbook" not in DEFINITIONS and all(d.name != "addressbook" for d in DEFINITIONS.values())


def test_txn_script_keeps_the_quarantine_size():
    assert "$QUARANTINE" not in addressbook.TXN_SCRIPT
    assert f'tail -n {ipam.QUARANTINE} > "$t/released"' in addressbook.TXN_SCRIPT
    assert f"exit {addressbook.LOCKED_EXIT}" in addressbook.TXN_SCRIPT


def test_lock_timeout_is_a_dockstack_error():
    assert issubclass(addressbook.LockTimeout, DockstackError)


# --- parse_txn ------------------------------------------------------------------------------------------


TXN_OUTPUT = """\
put web
conflict db web ip 10.100.0.150
conflict cache web mac 02:42:0a:64:00:96
del old
release gone
reloaded
generation 12
record dns dnsmasq host1 02:00:0a:64:00:02 10.100.0.2 static
record web app host1 02:42:0A:64:00:96 10.100.0.150 lease
released 10.100.0.170
released 10.100.0.171
done
"""


def test_parse_txn_full_output():
    res = addressbook.parse_txn(TXN_OUTPUT)
    assert res.generation == 12
    assert res.records == {"dns": DNS, "web": WEB}
    assert res.released == ("10.100.0.170", "10.100.0.171")
    assert res.applied == frozenset({"web", "old", "gone"})
    assert res.reloaded is True


def test_parse_txn_conflicts_name_the_holder():
    res = addressbook.parse_txn(TXN_OUTPUT)
    assert res.conflicts == {"db": "10.100.0.150 is already the address of web",
                             "cache": "02:42:0a:64:00:96 is already the MAC of web"}
    assert not res.applied & set(res.conflicts)


def test_parse_txn_nothing_changed():
    res = addressbook.parse_txn("generation 3\nrecord dns dnsmasq host1 02:00:0a:64:00:02 10.100.0.2 static\ndone\n")
    assert (res.generation, res.records, res.released, res.applied, res.conflicts, res.reloaded) == (
        3, {"dns": DNS}, (), frozenset(), {}, False)


def test_parse_txn_ignores_garbled_lines():
    res = addressbook.parse_txn("generation x\nrecord half a line\nreleased \nnoise here\ndone\n")
    assert (res.generation, res.records, res.released) == (0, {}, ())


@pytest.mark.parametrize("text", [
    "put web\ngeneration 4\n",  # cut off before the end
    "locked ops@box pid 42\n",
    "failed: cannot unpack the change\n",
])
def test_parse_txn_without_done_raises_with_the_output(text):
    with pytest.raises(DockstackError, match="address book transaction did not finish") as e:
        addressbook.parse_txn(text)
    assert text.strip().splitlines()[-1] in str(e.value)


def test_parse_txn_of_no_output_raises():
    with pytest.raises(DockstackError, match="did not finish: no output"):
        addressbook.parse_txn("")


def test_parse_txn_keeps_only_the_tail_of_long_output():
    text = "".join(f"noise line {i}\n" for i in range(200))
    with pytest.raises(DockstackError) as e:
        addressbook.parse_txn(text)
    assert "noise line 199" in str(e.value)
    assert "noise line 100\n" not in str(e.value)
    assert len(str(e.value)) < 400


# --- damaged registry files -----------------------------------------------------------------


FOLDER = "/var/lib/dockstack/dnsmasq"
WEB_LINE = "web app host1 02:42:0a:64:00:96 10.100.0.150 lease"


def damaged(name: str, generation: int, *records: Record, holds: dict[str, str], last_good: tuple[Record, ...] = (),
            host: str = "host1") -> BookCopy:
    """A copy on its host whose registry files in `holds` are damaged (file name -> what they hold)."""
    return BookCopy(name, generation, {r.name: r for r in records}, (), (), holds, {r.name: r for r in last_good},
                    host=host, folder=f"{FOLDER}/{name}")


def test_merge_takes_a_damaged_record_from_an_intact_copy_and_says_so():
    bad = damaged("dns", 9, DNS, DB, rec("x", 90), holds={"web": "?????"}, last_good=(rec("web", 99),))
    intact = replace(copy("dns2", 9, DNS, WEB), host="host3", folder=f"{FOLDER}/dns2")
    book, notes = addressbook.merge([intact, bad])
    assert book.records == {"dns": DNS, "db": DB, "x": rec("x", 90), "web": WEB}  # intact, before a last good copy
    assert notes[0] == (f"address book of dns on host1: {FOLDER}/dns/registry/web is damaged (holds '?????'): "
                        f"restored from dns2's copy on host3 (generation 9): {WEB_LINE}")
    assert addressbook.repairs(book, bad) == Change(puts=(WEB,))


def test_merge_takes_a_newer_last_good_copy_before_an_older_copys_record():
    """The older copy missed a change (its host was down): its record of web is the stale one."""
    stale = rec("web", 99)
    bad = damaged("dns", 9, DNS, holds={"web": ""}, last_good=(WEB,))
    book, notes = addressbook.merge([copy("dns2", 7, DNS, stale), bad])
    assert book.records["web"] == WEB
    assert f"restored from the last good copy {FOLDER}/dns/last-good/web: {WEB_LINE}" in notes[0]


def test_merge_prefers_the_newest_intact_copy():
    older = replace(WEB, ip="10.100.0.149", mac="02:42:0a:64:00:95")
    copies = [damaged("dns", 9, DNS, holds={"web": ""}), copy("dns2", 5, DNS, older), copy("dns3", 8, DNS, WEB)]
    book, notes = addressbook.merge(copies)
    assert book.records["web"] == WEB
    assert "restored from dns3's copy" in notes[0]


def test_merge_restores_a_damaged_record_from_the_last_good_copy():
    bad = damaged("dns", 9, DNS, DB, holds={"web": ""}, last_good=(WEB,))
    book, notes = addressbook.merge([bad])
    assert book.records == {"dns": DNS, "db": DB, "web": WEB}  # nothing else dropped
    assert book.generation == 9
    assert notes == [f"address book of dns on host1: {FOLDER}/dns/registry/web is damaged (empty): restored from "
                     f"the last good copy {FOLDER}/dns/last-good/web: {WEB_LINE}"]
    assert addressbook.repairs(book, bad) == Change(puts=(WEB,))  # written back by the next transaction


def test_merge_takes_this_copys_last_good_copy_before_another_ones():
    mine = damaged("dns", 9, DNS, holds={"web": ""}, last_good=(WEB,))
    other = damaged("dns2", 9, DNS, holds={"web": "x"}, last_good=(rec("web", 99),), host="host3")
    for copies in ([other, mine], [mine, other]):
        book, notes = addressbook.merge(copies)
        newest = max(copies, key=lambda c: (c.generation, len(c.records)))
        assert book.records["web"] == newest.last_good["web"]
        assert f"restored from the last good copy {FOLDER}/{newest.dnsmasq}/last-good/web" in " ".join(notes)


def test_merge_takes_another_copys_last_good_copy_when_this_one_has_none():
    mine = damaged("dns", 9, DNS, DB, holds={"web": ""})
    other = damaged("dns2", 8, DNS, holds={"web": "x"}, last_good=(WEB,), host="host3")
    book, notes = addressbook.merge([mine, other])
    assert book.records == {"dns": DNS, "db": DB, "web": WEB}
    assert f"restored from the last good copy {FOLDER}/dns2/last-good/web" in notes[0]


def test_merge_without_any_good_copy_keeps_the_entries_and_says_so():
    bad = damaged("dns", 9, DNS, holds={"web": "empty"})
    book, notes = addressbook.merge([bad])
    assert book.records == {"dns": DNS}
    assert notes == [f"address book of dns on host1: {FOLDER}/dns/registry/web is damaged (holds 'empty'): no "
                     "intact copy: left until the container is recorded again (from its running eth0 or the leases); "
                     "its DHCP and DNS entries are kept"]
    assert addressbook.repairs(book, bad) == Change()  # no delete: that would drop its DHCP and DNS entries


def test_merge_names_a_damaged_file_of_an_older_copy_and_what_replaces_it():
    book, notes = addressbook.merge([copy("dns", 9, DNS, WEB), damaged("dns2", 8, DNS, holds={"web": ""}, host="h3")])
    assert book.records == {"dns": DNS, "web": WEB}
    assert notes[0] == (f"address book of dns2 on h3: {FOLDER}/dns2/registry/web is damaged (empty): rewritten from "
                        f"the address book (dns, generation 9): {WEB_LINE}")


def test_merge_without_host_or_folder_still_names_the_file():
    book, notes = addressbook.merge([BookCopy("dns", 9, {"dns": DNS}, (), (), {"web": ""}, {"web": WEB})])
    assert book.records["web"] == WEB
    assert notes[0].startswith("address book of dns: registry/web is damaged (empty): restored from the last good "
                               "copy last-good/web: ")


def test_merge_names_a_garbled_lease_file_and_keeps_its_good_leases():
    good = Lease(100, "02:42:0a:64:00:a0", "10.100.0.160", "x")
    c = BookCopy("dns", 4, {"dns": DNS}, (), (good,), bad_leases=("\x01??garbage" + "x" * 200, "not a lease"),
                 host="host1", folder=f"{FOLDER}/dns")
    book, notes = addressbook.merge([c])
    assert book.leases == (good,) and book.records == {"dns": DNS}
    first = repr(("\x01??garbage" + "x" * 200)[:80])
    assert notes == [f"address book of dns on host1: {FOLDER}/dns/lease/leases has 2 garbled line(s), the first: "
                     f"{first}: ignored (the recorded addresses stay pinned in dhcp-hosts.d; dnsmasq writes the file "
                     "anew at its next lease change)"]


def test_repairs_write_a_missing_or_older_last_good_copy():
    c = replace(copy("dns", 3, DNS, WEB, DB), unbacked=frozenset({"web", "db"}))
    book, notes = addressbook.merge([c])
    assert addressbook.repairs(book, c) == Change(puts=(DB, WEB))
    assert notes == ["address book of dns: 2 record(s) without a last good copy, or with an older one (db, web): "
                     "written by this run"]


# --- TXN_SCRIPT, run here on a folder (a `docker` that knows no container) ------------------------


@pytest.fixture
def txn(tmp_path, monkeypatch):
    """Run TXN_SCRIPT on tmp_path/book with a payload; returns the parsed result."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    book = tmp_path / "book"

    def run(change: Change) -> addressbook.TxnResult:
        argv = ["sh", "-c", addressbook.TXN_SCRIPT, "sh", "5", "test", "0", str(book), "dns"]
        out = subprocess.run(argv, input=addressbook.payload([change], DOMAIN), capture_output=True, timeout=30)
        assert out.returncode == 0, out
        return addressbook.parse_txns(out.stdout.decode(), 1)[0]

    run.book = book
    return run


def test_txn_keeps_a_last_good_copy_of_every_record_it_puts(txn):
    txn(Change(puts=(DNS, WEB)))
    assert (txn.book / "last-good/web").read_text() == ipam.render_record(WEB)
    assert (txn.book / "registry/web").read_text() == ipam.render_record(WEB)
    moved = replace(WEB, ip="10.100.0.170")
    res = txn(Change(puts=(moved,)))
    assert (txn.book / "last-good/web").read_text() == ipam.render_record(moved)
    assert res.records == {"dns": DNS, "web": moved}
    assert sorted(p.name for p in (txn.book / "last-good").iterdir()) == ["dns", "web"]
    assert list((txn.book / "tmp").iterdir()) == []


def test_txn_reports_no_record_a_forged_registry_file_holds(txn):
    """The registry folder is its dnsmasq container's to write: a file named as no record, or a line for another
    name than its file's, is neither reported nor taken for a clash with a put."""
    txn(Change(puts=(DNS,)))
    (txn.book / "registry" / "x\ny").write_text("evil webui h1 02:42:0a:64:00:66 10.100.0.66 static\n")
    (txn.book / "registry/zz").write_text(f"web webui h1 02:42:0a:64:00:67 {WEB.ip} static\n")
    res = txn(Change(puts=(WEB,)))
    assert res.records == {"dns": DNS, "web": WEB} and not res.conflicts, res


def test_txn_writes_a_missing_last_good_copy_of_an_unchanged_record(txn):
    first = txn(Change(puts=(WEB,)))
    (txn.book / "last-good/web").unlink()
    again = txn(Change(puts=(WEB,)))
    assert (txn.book / "last-good/web").read_text() == ipam.render_record(WEB)
    assert again.generation == first.generation + 1
    assert txn(Change(puts=(WEB,))).generation == again.generation  # nothing left to change


def test_txn_restores_a_damaged_record_and_keeps_the_others(txn):
    txn(Change(puts=(DNS, WEB, DB)))
    (txn.book / "registry/web").write_text("")
    res = txn(Change(puts=(WEB,)))
    assert res.records == {"dns": DNS, "web": WEB, "db": DB}


@pytest.mark.parametrize("how", ["delete", "release"])
def test_txn_forgets_the_last_good_copy_with_the_record(txn, how):
    txn(Change(puts=(DNS, WEB)))
    txn(Change(deletes=("web",)) if how == "delete" else Change(releases=(("web", WEB.ip, WEB.mac),)))
    assert sorted(p.name for p in (txn.book / "last-good").iterdir()) == ["dns"]
    assert not (txn.book / "registry/web").exists()


def test_txn_release_drops_the_lease_of_a_stopped_dnsmasq_and_never_follows_what_was_planted(txn, tmp_path):
    """dnsmasq stopped: a release removes the lease from its lease file itself. lease/ is the container's to write:
    a symlink there to a file of the host is not followed (the host file is neither read into the lease file nor
    changed), a FIFO is not waited on."""
    lease = f"1732500000 {WEB.mac} {WEB.ip} web *\n"
    other = f"1732500000 {DB.mac} {DB.ip} db *\n"
    txn(Change(puts=(DNS, WEB, DB)))
    (txn.book / "lease").mkdir()
    (txn.book / "lease/leases").write_text(lease + other)
    txn(Change(releases=(("web", WEB.ip, WEB.mac),)))
    assert (txn.book / "lease/leases").read_text() == other
    host_file = tmp_path / "host-file"
    host_file.write_text(f"root:secret\n1732500000 {DB.mac} {DB.ip} db *\n")
    (txn.book / "lease/leases").unlink()
    (txn.book / "lease/leases").symlink_to(host_file)
    txn(Change(releases=(("db", DB.ip, DB.mac),)))
    assert host_file.read_text() == f"root:secret\n1732500000 {DB.mac} {DB.ip} db *\n"
    assert (txn.book / "lease/leases").is_symlink()
    (txn.book / "lease/leases").unlink()
    os.mkfifo(txn.book / "lease/leases")
    t0 = time.monotonic()
    txn(Change(puts=(WEB,)))
    txn(Change(releases=(("web", WEB.ip, WEB.mac),)))
    assert time.monotonic() - t0 < 10 and stat.S_ISFIFO(os.lstat(txn.book / "lease/leases").st_mode)


def test_txn_never_writes_through_what_a_dnsmasq_container_left_in_its_folder(txn, tmp_path):
    """A dnsmasq container made before its folder was read-only to it could leave symlinks and FIFOs there: a
    symlinked file or folder of the copy's own stops the transaction naming it (the host file it points to is
    untouched); a FIFO or a symlink in place of a record is replaced, never read."""
    txn(Change(puts=(DNS,)))
    host_file = tmp_path / "host-file"
    host_file.write_text("host\n")
    argv = ["sh", "-c", addressbook.TXN_SCRIPT, "sh", "5", "test", "0", str(txn.book), "dns"]
    for name in ("generation", "lock.holder", "tmp", "registry"):
        kept = txn.book / f"{name}.kept"
        (txn.book / name).rename(kept)
        (txn.book / name).symlink_to(host_file)
        out = subprocess.run(argv, input=addressbook.payload([Change(puts=(WEB,))], DOMAIN), capture_output=True,
                             timeout=30)
        assert out.returncode != 0 and f"{txn.book}/{name} is not" in out.stdout.decode(), (name, out)
        assert host_file.read_text() == "host\n"
        (txn.book / name).unlink()
        kept.rename(txn.book / name)
    os.mkfifo(txn.book / "registry/web")
    (txn.book / "hosts.d/web").symlink_to(host_file)
    t0 = time.monotonic()
    res = txn(Change(puts=(WEB,)))
    assert time.monotonic() - t0 < 10 and res.records == {"dns": DNS, "web": WEB}
    assert host_file.read_text() == "host\n" and not (txn.book / "hosts.d/web").is_symlink()


# --- the replicas: a copy on every host ---------------------------------------------------------------


def replica(host: str, generation: int, *records: Record) -> BookCopy:
    return BookCopy("", generation, {r.name: r for r in records}, (), (), host=host, folder=addressbook.REPLICA_DIR)


def test_merge_reads_the_book_from_a_replica_when_the_dnsmasq_copy_is_gone():
    """The dnsmasq host's folder wiped (its copy new and empty): the replicas elsewhere hold the book."""
    book, notes = addressbook.merge([copy("dns", 0), replica("host2", 9, DNS, WEB, DB), replica("host3", 9, DNS, WEB,
                                                                                                  DB)])
    assert (book.records, book.generation) == ({"dns": DNS, "web": WEB, "db": DB}, 9)
    assert notes == ["address book of dns (generation 0) differs from host2's replica (generation 9): repaired from "
                     "the newest"]
    assert addressbook.repairs(book, copy("dns", 0)) == Change(puts=(DB, DNS, WEB))


def test_merge_prefers_a_dnsmasq_copy_among_equals_and_names_a_stale_replica():
    book, notes = addressbook.merge([replica("host1", 9, DNS, WEB), copy("dns", 9, DNS, WEB),
                                     replica("host3", 8, DNS)])
    assert book.records == {"dns": DNS, "web": WEB}
    assert notes == ["address book replica on host3 (generation 8) differs from dns's (generation 9): repaired from "
                     "the newest"]


def test_a_newer_replica_wins_over_an_older_dnsmasq_copy():
    """A replica written while the dnsmasq host was down holds the last change: it wins, whatever the copy's kind."""
    moved = replace(WEB, ip="10.100.0.170")
    book, _ = addressbook.merge([copy("dns", 7, DNS, WEB), replica("host2", 8, DNS, moved)])
    assert book.records["web"] == moved
    assert addressbook.repairs(book, copy("dns", 7, DNS, WEB)) == Change(puts=(moved,))


def test_a_damaged_record_is_restored_from_a_replicas_intact_one():
    dns = damaged("dns", 9, DNS, holds={"web": ""}, last_good=())
    book, notes = addressbook.merge([dns, replica("host2", 9, DNS, WEB)])
    assert book.records["web"] == WEB  # the replica has more intact records: it is the newest
    assert notes[0] == (f"address book of dns on host1: {FOLDER}/dns/registry/web is damaged (empty): rewritten from "
                        f"the address book (the replica on host2, generation 9): {' '.join(vars(WEB).values())}")


def test_a_damaged_record_of_a_replica_is_named_with_its_host_and_path():
    bad = BookCopy("", 9, {"dns": DNS}, (), (), {"web": "x"}, {"web": WEB}, host="host2",
                   folder=addressbook.REPLICA_DIR)
    _, notes = addressbook.merge([bad])
    assert notes == [f"address book replica on host2: {addressbook.REPLICA_DIR}/registry/web is damaged (holds 'x'): "
                     f"restored from the last good copy {addressbook.REPLICA_DIR}/last-good/web: "
                     f"{' '.join(vars(WEB).values())}"]


def test_parse_txns_splits_the_copies_of_one_round_trip():
    one = "put web\ngeneration 4\nrecord " + " ".join(vars(WEB).values()) + "\ndone\n"
    two = "generation 4\ndone\n"
    first, second = addressbook.parse_txns(f"copy 1\n{one}copy 2\n{two}", 2)
    assert (first.generation, first.records, first.applied) == (4, {"web": WEB}, frozenset({"web"}))
    assert (second.generation, second.records) == (4, {})
    with pytest.raises(DockstackError, match=r"(?s)did not reach copy 2 of 2: .*mkdir: cannot create"):
        addressbook.parse_txns(f"copy 1\n{one}mkdir: cannot create directory", 2)
    with pytest.raises(DockstackError, match="copy 2 of 2: address book transaction did not finish: generation 4"):
        addressbook.parse_txns(f"copy 1\n{one}copy 2\ngeneration 4\n", 2)


def test_payload_renders_a_put_once_for_every_copy_and_gives_each_its_ops():
    files = untar(addressbook.payload([Change(puts=(WEB,)), Change(puts=(WEB, DB), deletes=("old",)), Change()],
                                      DOMAIN))
    assert {p: t for p, t in files.items() if p.startswith("ops/")} == {
        "ops/1": "put web\n", "ops/2": "put web\nput db\ndel old\n", "ops/3": ""}
    assert sorted(p for p in files if p.startswith("put/")) == [
        "put/db.dhcp", "put/db.host", "put/db.record", "put/web.dhcp", "put/web.host", "put/web.record"]
    with pytest.raises(DockstackError, match="two copies were to get different records of web"):
        addressbook.payload([Change(puts=(WEB,)), Change(puts=(replace(WEB, ip="10.100.0.99"),))], DOMAIN)


def test_txn_on_a_replica_and_a_dnsmasq_copy_in_one_round_trip(tmp_path):
    """The real script: both copies written, each with its own ops; a known newer generation carried over."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\necho \"docker $*\" >> \"$LOG\"\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "log")}
    a, b = tmp_path / "dnsmasq/dns", tmp_path / "addressbook"
    argv = ["sh", "-c", addressbook.TXN_SCRIPT, "sh", "5", "me", "30", str(a), "dns", str(b), ""]
    data = addressbook.payload([Change(puts=(DNS, WEB)), Change(puts=(DNS,))], DOMAIN)
    out = subprocess.run(argv, input=data, capture_output=True, timeout=30, env=env)
    assert out.returncode == 0, out
    first, second = addressbook.parse_txns(out.stdout.decode(), 2)
    assert (first.generation, set(first.records), second.generation, set(second.records)) == (31, {"dns", "web"},
                                                                                               31, {"dns"})
    assert (b / "dhcp-hosts.d/dns").read_text() == ipam.render_dhcp_host(DNS)
    assert not (tmp_path / "log").exists()  # new files need no reload: docker is not asked (a replica never is)
    (a / "hosts.d/web").write_text("stale\n")  # a replaced file dnsmasq reads: a reload, so docker is asked once
    moved = addressbook.payload([Change(puts=(WEB,)), Change()], DOMAIN)
    assert subprocess.run(argv, input=moved, capture_output=True, timeout=30, env=env).returncode == 0
    assert (tmp_path / "log").read_text().splitlines() == ["docker kill --signal HUP dns"]  # no inspect first
    (tmp_path / "log").unlink()
    assert list((a / "tmp").iterdir()) == [] and list((b / "tmp").iterdir()) == []  # the change's copy removed too
    again = subprocess.run(argv, input=data, capture_output=True, timeout=30, env=env)
    assert [r.generation for r in addressbook.parse_txns(again.stdout.decode(), 2)] == [32, 31]  # nothing changed
