"""The field SDK through its generated Python bindings against a live `sidak serve`.

`.ci/mobile` builds the library and the server, generates the bindings into
SIDAK_MOBILE_BINDINGS and points SIDAK_BIN at the `sidak` binary. The server runs on a free
loopback port with a temporary SQLite database; the office is driven over its HTTP API
(admin for officers and codes, a supervisor for resolving conflicts), as a branch would.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.environ["SIDAK_MOBILE_BINDINGS"])
import sidak_mobile as sdk  # noqa: E402

ADMIN_PASSWORD = "mobile-admin-password-1"
SUPERVISOR_PASSWORD = "mobile-supervisor-password-1"
# Makassar: Mariso district, Lette village.
VILLAGE = "7371011001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Office:
    """The branch office over HTTP: admin calls and a supervisor's decisions."""

    def __init__(self, base):
        self.base = base
        self.admin = self.login("admin", ADMIN_PASSWORD)
        self.call("POST", "/v1/admin/users", self.admin,
                  {"username": "siti", "password": SUPERVISOR_PASSWORD, "role": "supervisor"})
        self.supervisor = self.login("siti", SUPERVISOR_PASSWORD)

    def call(self, method, path, token=None, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()!r}") from e

    def login(self, username, password):
        return self.call("POST", "/v1/login", None, {"username": username, "password": password})["token"]

    def officer(self, officer_id, name, scope=("7371",)):
        self.call("POST", "/v1/admin/officers", self.admin,
                  {"id": officer_id, "name": name, "scope": list(scope)})

    def code(self, officer_id):
        return self.call("POST", f"/v1/admin/officers/{officer_id}/enrollment-codes", self.admin, {})["code"]

    def resolve(self, record_id, field, pick, note=None):
        body = {"field": field, "pick": pick}
        if note:
            body["note"] = note
        return self.call("POST", f"/v1/office/records/{record_id}/resolve", self.supervisor, body)


@pytest.fixture(scope="session")
def server():
    work = tempfile.mkdtemp(prefix="sidak-mobile-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SIDAK_LISTEN=f"127.0.0.1:{port}",
               SIDAK_DATABASE=f"sqlite:{work}/server.sqlite", SIDAK_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen([os.environ["SIDAK_BIN"], "serve"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sidak serve did not start; see " + log.name)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def office(server):
    return Office(server)


_officers = iter(range(1, 10_000))


@pytest.fixture
def enroll(server, office, tmp_path):
    """Enrolls a new device for a new officer: `enroll("Andi Wijaya")` -> FieldDevice."""

    def make(name, scope=("7371",), key=None):
        officer_id = f"officer-{next(_officers)}"
        office.officer(officer_id, name, scope)
        path = str(tmp_path / f"{officer_id}.sqlite")
        device = sdk.FieldDevice.open(path, key)
        device.enroll(server, office.code(officer_id), f"phone of {name}", None)
        device.path = path
        return device

    return make


def text(value):
    return sdk.FieldValue.TEXT(value=value)


def integer(value):
    return sdk.FieldValue.INT(value=value)


def set_field(field, value):
    return sdk.FieldEdit.SET(field=field, value=value)


def nik(n, day=12, month=5, year=90, female=False):
    """A valid NIK of Makassar (7371 01), born on `day`-`month`-`year`, serial `n`."""
    dd = day + 40 if female else day
    return f"737101{dd:02d}{month:02d}{year:02d}{n:04d}"


def new_worker(n, name=None):
    return sdk.NewWorker(
        village=VILLAGE, nik=nik(n), full_name=name or f"Worker {n}", birth_date="1990-05-12",
        sex="male", occupation="fisher", monthly_income=1_500_000, programmes=["JKK", "JKM"],
        payer="self", consent=True, status="submitted", fields=[])


def new_company(name):
    return sdk.NewCompany(village=VILLAGE, name=name, compliance="unknown", fields=[])


def every(kind):
    return sdk.ListFilter(kind=kind, status=None, region_prefix=None, company_id=None,
                          visit_id=None, unsynced_only=False, conflicts_only=False,
                          after=None, limit=500)
