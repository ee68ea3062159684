"""A field day through the SDK's generated bindings: two officers, one visit, a conflict the
office resolves, an edit refused and fixed, a sync cancelled and resumed, a sync killed."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import (VILLAGE, every, integer, new_company, new_worker, sdk, set_field, text)


def conflict_of(device, record_id, field):
    detail = device.record(record_id)
    return next((c for c in detail.conflicts if c.field == field), None)


def field_of(device, record_id, name):
    return next(f for f in device.record(record_id).fields if f.name == name)


def test_two_officers_conflict_resolved_by_the_office(enroll, office):
    andi = enroll("Andi Wijaya")
    budi = enroll("Budi Santoso")
    # An officer of another regency: never named to these phones.
    enroll("Citra Dewi", scope=("7372",))
    # No roster handed over: the phones learn the names from the server (/v1/writers).

    # Offline: Andi registers workers and starts a visit with findings.
    workers = [andi.register_worker(new_worker(n)) for n in (1, 2, 3)]
    company = andi.create_company(new_company("CV Laut Biru"))
    visit = andi.start_visit(company.id, ["Andi Wijaya"], [set_field("workers_observed", integer(8))])
    findings = [andi.add_finding(visit.id, t, []) for t in ("workers_not_registered", "wages_under_reported")]
    status = andi.status()
    assert status.pending_edits == 7 and status.officer_name == "Andi Wijaya"
    visit_findings = every(sdk.RecordKind.FINDING)
    visit_findings.visit_id = visit.id
    assert {f.id for f in andi.list(visit_findings).items} == {f.id for f in findings}

    report = andi.sync_once(None, None)
    assert report.accepted == 7 and report.pending_after == 0
    assert andi.status().last_sync_local.endswith("WITA")
    budi.sync_once(None, None)
    assert {w.title for w in budi.list(every(sdk.RecordKind.WORKER)).items} >= {"Worker 1", "Worker 2", "Worker 3"}
    assert len(workers) == 3

    # The same field on both phones, offline.
    andi.edit(sdk.RecordKind.VISIT, visit.id, [set_field("workers_observed", integer(12))])
    budi.edit(sdk.RecordKind.VISIT, visit.id, [set_field("workers_observed", integer(15))])
    andi.sync_once(None, None)
    budi.sync_once(None, None)
    andi.sync_once(None, None)

    for device, me in ((andi, "Andi Wijaya"), (budi, "Budi Santoso")):
        c = conflict_of(device, visit.id, "workers_observed")
        assert c is not None, "both phones see the conflict"
        by = {v.written.officer_name: v for v in c.values}
        assert set(by) == {"Andi Wijaya", "Budi Santoso"}
        assert by["Andi Wijaya"].value == integer(12) and by["Budi Santoso"].value == integer(15)
        assert by[me].written.by_this_device
        assert all(v.written.text.endswith("WITA") and v.written.text.startswith(v.written.officer_name)
                   for v in c.values)
        assert device.status().conflicts == 1

    # The supervisor picks Budi's count; both phones receive the decision.
    pick = next(v for v in conflict_of(andi, visit.id, "workers_observed").values
                if v.written.officer_name == "Budi Santoso")
    office.resolve(visit.id, "workers_observed", pick.written.stamp, "counted again at the site")
    for device in (andi, budi):
        device.sync_once(None, None)
        assert conflict_of(device, visit.id, "workers_observed") is None
        shown = field_of(device, visit.id, "workers_observed")
        assert shown.value == integer(15)
        assert shown.written.by_office and shown.written.text.startswith("central office")
        assert device.status().conflicts == 0


def test_refused_edit_shows_its_reason_and_is_resubmitted_fixed(enroll, office):
    andi = enroll("Citra Lestari")
    budi = enroll("Dewi Anggraini")
    company = andi.create_company(new_company("PT Sinar Makassar"))
    visit = andi.start_visit(company.id, [], [])
    andi.sync_once(None, None)
    budi.sync_once(None, None)

    # Andi registers a worker; Budi, who has not synced since, mistakes its id for the company's.
    worker = andi.register_worker(new_worker(41))
    andi.sync_once(None, None)
    edited = budi.edit(sdk.RecordKind.VISIT, visit.id, [set_field("company", text(worker.id))])
    assert [w.code for w in edited.warnings] == ["unknown_reference"], "a warning only, on the phone"
    report = budi.sync_once(None, None)
    assert report.rejected == 1

    [refused] = budi.refused()
    assert refused.seq == edited.local_seq and refused.record_id == visit.id
    assert refused.code == "invalid_value" and not refused.resends_itself
    assert "wrong_reference" in [p.code for p in refused.problems]
    assert refused.message and refused.made.officer_name == "Dewi Anggraini"
    assert refused.edits == [set_field("company", text(worker.id))]
    assert budi.status().refused_edits == 1
    # The phone shows what the server holds, not the refused value.
    assert field_of(budi, visit.id, "company").value == text(company.id)

    # Fixed: the visit is at another company, which Budi records and names.
    other = budi.create_company(new_company("UD Berkah Nelayan"))
    fix = budi.resubmit(refused.seq, [set_field("company", text(other.id))])
    assert budi.refused()[0].resubmitted_as == fix.local_seq
    assert budi.status().refused_edits == 0
    report = budi.sync_once(None, None)
    assert report.rejected == 0 and report.pending_after == 0
    andi.sync_once(None, None)
    assert field_of(andi, visit.id, "company").value == text(other.id)

    with pytest.raises(sdk.SidakError.Edit) as e:
        budi.resubmit(fix.local_seq, [])
    assert e.value.code == "not_refused"


class Progress(sdk.SyncProgress):
    """Records every update; cancels `cancel` after `after` pages."""

    def __init__(self, cancel=None, after=None):
        self.updates = []
        self.cancel = cancel
        self.after = after

    def on_progress(self, progress):
        self.updates.append(progress)
        if self.cancel is not None and progress.pages >= self.after:
            self.cancel.cancel()


def test_a_cancelled_sync_resumes_and_reads_go_on_while_it_runs(enroll):
    andi = enroll("Eka Putri")
    for n in range(100, 160):
        andi.register_worker(new_worker(n))
    andi.sync_once(None, None)

    fresh = enroll("Fajar Hidayat")
    fresh.set_sync_settings(sdk.SyncSettings(page_ops=5, deadline_secs=600, app_version="test"))
    cancel = sdk.SyncCancel()
    progress = Progress(cancel, after=2)
    with pytest.raises(sdk.SidakError.Sync) as e:
        fresh.sync_once(progress, cancel)
    assert e.value.code == "cancelled" and cancel.is_cancelled()
    held = fresh.status().records
    assert 0 < held < 60, f"stopped midway, {held} records"
    assert progress.updates[-1].phase == sdk.SyncPhase.PULL

    # Resumed on a worker thread while the "UI thread" keeps reading.
    result = {}
    done = threading.Event()

    def worker():
        try:
            result["report"] = fresh.sync_once(Progress(), None)
        finally:
            done.set()

    t = threading.Thread(target=worker)
    t.start()
    slowest, reads, during = 0.0, 0, 0
    while not done.is_set():
        start = time.perf_counter()
        fresh.list(every(sdk.RecordKind.WORKER))
        status = fresh.status()
        slowest = max(slowest, time.perf_counter() - start)
        reads += 1
        during += status.syncing
    t.join()
    report = result["report"]
    assert report.pulled >= 60 - held and report.pages > 1
    assert fresh.status().records >= 60
    assert during > 0, "reads ran while the sync did"
    assert slowest < 1.0, f"a read waited {slowest:.3f} s for the sync"

    # A second sync while one runs is refused, not queued.
    started = threading.Event()

    class Slow(sdk.SyncProgress):
        def on_progress(self, progress):
            started.set()
            time.sleep(0.3)

    andi.register_worker(new_worker(170))
    t = threading.Thread(target=lambda: andi.sync_once(Slow(), None))
    t.start()
    assert started.wait(30)
    with pytest.raises(sdk.SidakError.Sync) as e:
        andi.sync_once(None, None)
    assert e.value.code == "sync_running"
    t.join()


CHILD = r"""
import os, sys
sys.path.insert(0, os.environ["SIDAK_MOBILE_BINDINGS"])
sys.path.insert(0, os.environ["SIDAK_MOBILE_TESTS"])
import sidak_mobile as sdk
from conftest import new_worker

device = sdk.FieldDevice.open(sys.argv[1], None)
device.set_sync_settings(sdk.SyncSettings(page_ops=5, deadline_secs=600, app_version=None))
start = int(sys.argv[2])
for n in range(start, start + 20):
    e = device.register_worker(new_worker(n))
    print("created", e.id, flush=True)

class Report(sdk.SyncProgress):
    def on_progress(self, p):
        print("progress", p.pages, p.ops_pushed, flush=True)

device.sync_once(Report(), None)
print("finished", flush=True)
"""


def test_a_sync_killed_midway_loses_nothing(enroll, tmp_path):
    other = enroll("Gita Maharani")
    for n in range(200, 240):
        other.register_worker(new_worker(n))
    other.sync_once(None, None)

    device = enroll("Hendra Gunawan")
    path = device.path
    del device  # the child owns the file now
    script = str(tmp_path / "child_sync.py")
    env = dict(os.environ, SIDAK_MOBILE_TESTS=os.path.dirname(os.path.abspath(__file__)))
    created = []
    for round_, start in enumerate((300, 400, 500)):
        with open(script, "w") as f:
            f.write(CHILD)
        child = subprocess.Popen([sys.executable, script, path, str(start)],
                                 stdout=subprocess.PIPE, text=True, env=env)
        try:
            for line in child.stdout:
                if line.startswith("created"):
                    created.append(line.split()[1])
                # Killed right after the first step of its sync: mid-push or mid-pull.
                if line.startswith("progress") and int(line.split()[1]) >= round_:
                    child.send_signal(signal.SIGKILL)
                    break
                assert not line.startswith("finished"), "the sync ended before it was killed"
        finally:
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

    reopened = sdk.FieldDevice.open(path, None)
    held = {w.id for w in reopened.list(every(sdk.RecordKind.WORKER)).items}
    assert set(created) <= held, "every edit committed before the kill is there"
    report = reopened.sync_once(None, None)
    assert report.pending_after == 0
    status = reopened.status()
    assert status.pending_edits == 0 and status.refused_edits == 0
    assert status.records >= 40 + len(created)
    other.sync_once(None, None)
    theirs = {w.id for w in other.list(every(sdk.RecordKind.WORKER)).items}
    assert set(created) <= theirs, "and each reached the server once the sync resumed"
    assert len(created) == 60


def test_a_list_pages_by_cursor_while_a_sync_commits_between_pages(enroll):
    source = enroll("Kartika Sari")
    for n in range(800, 830):
        source.register_worker(new_worker(n))
    source.sync_once(None, None)
    device = enroll("Lukman Hakim")
    own = [device.register_worker(new_worker(n)).id for n in range(830, 840)]

    page = every(sdk.RecordKind.WORKER)
    page.limit = 3
    first = device.list(page)
    assert first.more and first.next is not None and len(first.items) == 3
    # A sync commits between two pages: the 30 pulled workers, the 10 own ones acknowledged.
    report = device.sync_once(None, None)
    assert report.pulled >= 30
    listed = [w.id for w in first.items]
    cursor = first.next
    while cursor is not None:
        page.after = cursor
        p = device.list(page)
        listed += [w.id for w in p.items]
        cursor = p.next
        assert p.more == (cursor is not None)
    assert len(listed) == len(set(listed)), "nothing listed twice"
    assert set(own) <= set(listed), "every record there before the sync listed once"
    # A fresh walk holds everything, the pulled workers too.
    page.after = None
    fresh = []
    while True:
        p = device.list(page)
        fresh += [w.id for w in p.items]
        if p.next is None:
            break
        page.after = p.next
    assert len(fresh) == len(set(fresh)) >= 40 and set(own) <= set(fresh)

    # Cursors the SDK did not hand out for this list.
    for bad in ("", "garbage", "0" * len(first.next), first.next[:-1] + "x"):
        page.after = bad
        with pytest.raises(sdk.SidakError.Edit) as e:
            device.list(page)
        assert e.value.code == "invalid_cursor"
    companies = every(sdk.RecordKind.COMPANY)
    companies.after = first.next
    with pytest.raises(sdk.SidakError.Edit) as e:
        device.list(companies)
    assert e.value.code == "invalid_cursor"


def test_errors_carry_stable_codes(enroll, tmp_path):
    device = enroll("Indah Permata")
    with pytest.raises(sdk.SidakError.Edit) as e:
        bad = new_worker(600)
        bad.nik = "123"
        device.register_worker(bad)
    assert e.value.code == "invalid_edit" and "invalid_nik" in [p.code for p in e.value.problems]
    with pytest.raises(sdk.SidakError.Edit) as e:
        device.edit(sdk.RecordKind.WORKER, "not-an-id", [])
    assert e.value.code == "invalid_query"
    company = device.create_company(new_company("CV Tes"))
    with pytest.raises(sdk.SidakError.Edit) as e:
        device.archive(sdk.RecordKind.WORKER, company.id)
    assert e.value.code == "wrong_kind"
    with pytest.raises(sdk.SidakError.Edit) as e:
        device.register_worker(sdk.NewWorker(**{**new_worker(601).__dict__, "village": "9999999999"}))
    assert e.value.code in ("invalid_edit", "out_of_scope")

    key = sdk.DeviceKey.RAW(bytes=bytes(range(32)))
    encrypted = str(tmp_path / "encrypted.sqlite")
    sdk.FieldDevice.open(encrypted, key).status()
    with pytest.raises(sdk.SidakError.Store) as e:
        sdk.FieldDevice.open(encrypted, None)
    assert e.value.code == "key_required"
    with pytest.raises(sdk.SidakError.Store) as e:
        sdk.FieldDevice.open(encrypted, sdk.DeviceKey.RAW(bytes=bytes(32)))
    assert e.value.code == "wrong_key"
    with pytest.raises(sdk.SidakError.Sync) as e:
        sdk.FieldDevice.open(str(tmp_path / "new.sqlite"), None).sync_once(None, None)
    assert e.value.code == "not_enrolled"
    assert VILLAGE.startswith("7371")


def test_a_lost_device_is_wiped_at_its_next_sync(enroll, office):
    device = enroll("Joko Prasetyo")
    device.register_worker(new_worker(700))
    device_id = device.status().device_id
    office.call("POST", f"/v1/admin/devices/{device_id}/lost", office.admin, {})
    with pytest.raises(sdk.SidakError.Wiped) as e:
        device.sync_once(None, None)
    assert e.value.code == "device_lost" and e.value.destroyed_edits == 1
    assert not os.path.exists(device.path), "the store's files are destroyed"
    with pytest.raises(sdk.SidakError.Wiped) as e:
        device.status()
    assert e.value.code == "wiped"
