"""Photos as evidence through the SDK's generated bindings: attached offline, the record
synced before its photo, the photo held back off Wi-Fi, uploaded in chunks, opened on a
second phone, and what the SDK refuses."""

import hashlib
import os

import pytest

from conftest import new_company, sdk


def photo_bytes(n, size=300_000):
    """Incompressible bytes starting like a JPEG (the server checks hashes, not pixels)."""
    out = bytearray(b"\xff\xd8\xff\xe0")
    seed = f"photo {n}".encode()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
        i += 1
    return bytes(out[:size])


def attach(device, record_id, tmp_path, n, caption):
    path = tmp_path / f"photo-{n}.jpg"
    path.write_bytes(photo_bytes(n))
    got = device.attach_file(record_id, str(path), "image/jpeg", caption, None, "-5.1477,119.4327")
    os.remove(path)  # the store holds its own copy
    return got


def test_photos_travel_after_their_record_and_open_on_another_phone(enroll, tmp_path):
    andi = enroll("Andi Wijaya")
    budi = enroll("Budi Santoso")
    company = andi.create_company(new_company("CV Laut Biru"))
    wall = attach(andi, company.id, tmp_path, 1, "Daftar pekerja di dinding")
    sign = attach(andi, company.id, tmp_path, 2, "Tanda tangan pemilik")
    assert wall.new_bytes and wall.size == 300_000
    assert attach(andi, company.id, tmp_path, 1, "Daftar pekerja di dinding").new_bytes is False

    shown = {a.hash: a for a in andi.attachments(company.id)}
    assert set(shown) == {wall.hash, sign.hash}
    assert shown[wall.hash].caption == "Daftar pekerja di dinding"
    assert shown[wall.hash].state == sdk.AttachmentState.UPLOADING(uploaded_bytes=0)
    assert shown[wall.hash].readable and shown[wall.hash].taken_at
    assert andi.read_attachment(wall.hash) == photo_bytes(1)
    usage = andi.attachment_usage()
    assert (usage.waiting, usage.waiting_bytes, usage.own_bytes) == (2, 600_000, 600_000)

    # Off Wi-Fi with wifi_only: the record syncs, its photos wait.
    andi.set_attachment_policy(sdk.AttachmentPolicy(
        wifi_only=True, max_bytes_per_sync=None, prefetch=False, quota_bytes=None))
    andi.set_on_wifi(False)
    report = andi.sync_once(None, None)
    assert report.accepted >= 3 and report.attachments_held_back
    assert report.attachments_sent == 0 and report.attachments_waiting == 2

    # Budi has the record; the photos are not uploaded yet.
    budi.sync_once(None, None)
    theirs = {a.hash: a for a in budi.attachments(company.id)}
    assert theirs[wall.hash].state == sdk.AttachmentState.NOT_HERE()
    assert not theirs[wall.hash].readable
    assert budi.fetch_attachment(company.id, wall.hash) == sdk.FetchResult.NOT_UPLOADED_YET()

    # On Wi-Fi, with a budget of one photo per sync: one goes now, in chunks, progress shown.
    andi.set_attachment_policy(sdk.AttachmentPolicy(
        wifi_only=True, max_bytes_per_sync=350_000, prefetch=False, quota_bytes=None))
    andi.set_on_wifi(True)
    updates = []

    class Progress(sdk.SyncProgress):
        def on_progress(self, p):
            updates.append(p)

    report = andi.sync_once(Progress(), None)
    assert report.attachments_sent == 1 and report.attachments_waiting == 1
    assert report.attachment_bytes_sent >= 300_000 and report.attachment_bytes_sent <= 1.1 * 300_000 + 262_144
    assert any(u.attachment_bytes_sent > 0 for u in updates)
    report = andi.sync_once(None, None)
    assert report.attachments_waiting == 0
    assert andi.attachment_usage().waiting == 0
    assert all(a.state == sdk.AttachmentState.UPLOADED() for a in andi.attachments(company.id))

    # Budi opens the photo: downloaded once, verified, readable, saved for a viewer.
    got = budi.fetch_attachment(company.id, wall.hash)
    assert got == sdk.FetchResult.DOWNLOADED(bytes=300_000)
    assert budi.fetch_attachment(company.id, wall.hash) == sdk.FetchResult.ALREADY_HERE()
    assert budi.read_attachment(wall.hash) == photo_bytes(1)
    out = tmp_path / "viewer.jpg"
    budi.save_attachment(wall.hash, str(out))
    assert out.read_bytes() == photo_bytes(1)
    assert {a.hash: a for a in budi.attachments(company.id)}[wall.hash].state == sdk.AttachmentState.DOWNLOADED()
    assert budi.attachment_usage().downloaded_bytes == 300_000

    # A quota smaller than what Budi downloaded evicts it (it is not his own photo).
    budi.set_attachment_policy(sdk.AttachmentPolicy(
        wifi_only=False, max_bytes_per_sync=None, prefetch=False, quota_bytes=100_000))
    assert budi.attachment_usage().downloaded_bytes == 0
    assert {a.hash: a for a in budi.attachments(company.id)}[wall.hash].state == sdk.AttachmentState.NOT_HERE()

    # Removed on Andi's phone: gone from the record on both, the bytes kept as evidence.
    andi.detach(company.id, sign.hash)
    andi.sync_once(None, None)
    budi.sync_once(None, None)
    assert [a.hash for a in budi.attachments(company.id)] == [wall.hash]
    assert andi.read_attachment(sign.hash) == photo_bytes(2)


def test_what_the_sdk_refuses(enroll, tmp_path):
    andi = enroll("Andi Wijaya")
    company = andi.create_company(new_company("CV Sinar"))
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.attach_file(company.id, str(video), "video/mp4", None, None, None)
    assert e.value.code == "media_type_not_allowed"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.attach_file(company.id, str(empty), "image/jpeg", None, None, None)
    assert e.value.code == "empty_blob"
    photo = tmp_path / "ok.jpg"
    photo.write_bytes(photo_bytes(3, 1000))
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.attach_file(company.id, str(photo), "image/jpeg", "", None, None)
    assert e.value.code == "invalid_attachment"
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.attach_file(company.id, str(photo), "image/jpeg", None, None, "north of here")
    assert e.value.code == "invalid_attachment"
    with pytest.raises(sdk.SidakError.Store) as e:
        andi.attach_file(company.id, str(tmp_path / "missing.jpg"), "image/jpeg", None, None, None)
    assert e.value.code == "io"
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.detach(company.id, "ab" * 32)
    assert e.value.code == "not_attached"
    with pytest.raises(sdk.SidakError.Edit) as e:
        andi.read_attachment("not a hash")
    assert e.value.code == "invalid_hash"
    assert andi.attachments(company.id) == []
    assert andi.attachment_usage().own_bytes == 0
