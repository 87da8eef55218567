"""Authorisation on every dashboard route: anonymous → login; another institution's PIC → 404;
too low a role → 403. The list below must cover every /pic route the app serves."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.monitor.conftest import World, csrf_of

# (method, path template) — {c}: institution A's campaign, {u}: one of A's units.
CAMPAIGN_ROUTES = [
    ("GET", "/pic/c/{c}"),
    ("GET", "/pic/c/{c}/ringkasan"),
    ("GET", "/pic/c/{c}/unit"),
    ("GET", "/pic/c/{c}/masalah"),
    ("GET", "/pic/c/{c}/bot"),
    ("GET", "/pic/c/{c}/qr"),
    ("GET", "/pic/c/{c}/kualitas"),
    ("GET", "/pic/c/{c}/sampel"),
    ("GET", "/pic/c/{c}/sampel/export/rencana.csv"),  # before the draw: its plan
    ("POST", "/pic/c/{c}/sampel/cadangan"),
    ("GET", "/pic/c/{c}/sampel/tarik"),
    ("POST", "/pic/c/{c}/sampel/tarik"),
    ("POST", "/pic/c/{c}/sampel/cadangan/1/batalkan"),
    ("GET", "/pic/c/{c}/live.json"),
    ("GET", "/pic/c/{c}/ringkasan/export/corong.csv"),
    ("GET", "/pic/c/{c}/unit/export/unit-internal.xlsx"),
    ("GET", "/pic/c/{c}/masalah/export/kontak.csv"),
    ("GET", "/pic/c/{c}/skor/laporan"),
    ("GET", "/pic/c/{c}/skor/laporan.pdf"),
    ("GET", "/pic/c/{c}/kualitas/laporan.xlsx"),
    ("GET", "/pic/c/{c}/qr/poster.pdf"),
    ("POST", "/pic/c/{c}/unit/{u}/pengingat"),
    ("GET", "/pic/c/{c}/integritas"),
    ("GET", "/pic/c/{c}/integritas/export/ditandai.csv"),
    ("POST", "/pic/c/{c}/integritas/periksa"),
    ("POST", "/pic/c/{c}/integritas/tinjau/1"),
    ("POST", "/pic/c/{c}/pengiriman/jeda"),
    ("POST", "/pic/c/{c}/pengiriman/lanjutkan"),
    ("GET", "/pic/c/{c}/pengiriman/batalkan"),
    ("POST", "/pic/c/{c}/pengiriman/batalkan"),
    ("GET", "/pic/c/{c}/data"),
    ("POST", "/pic/c/{c}/data/unggah"),
    ("POST", "/pic/c/{c}/data/simpan"),
    ("POST", "/pic/c/{c}/data/batal"),
    ("POST", "/pic/c/{c}/data/unit"),
    ("POST", "/pic/c/{c}/data/batas"),
    ("GET", "/pic/c/{c}/data/unit/{u}/perbaikan.xlsx"),
    ("POST", "/pic/c/{c}/data/unit/{u}/kontak"),
    ("POST", "/pic/c/{c}/data/unit/{u}/tautan"),
    ("POST", "/pic/c/{c}/data/unit/{u}/tautan/cabut"),
    ("GET", "/pic/c/{c}/loket"),
    ("POST", "/pic/c/{c}/loket"),
    ("GET", "/pic/c/{c}/loket/poster.pdf?unit={u}&loket=L1"),
    ("GET", "/pic/c/{c}/luncurkan"),
    ("GET", "/pic/c/{c}/luncurkan/konfirmasi"),
    ("POST", "/pic/c/{c}/luncurkan"),
    ("GET", "/pic/c/{c}/siklus/tutup"),
    ("POST", "/pic/c/{c}/siklus/tutup"),
    ("POST", "/pic/c/{c}/siklus/buka"),
    ("GET", "/pic/c/{c}/rencana-aksi"),
    ("POST", "/pic/c/{c}/rencana-aksi/buat"),
    ("POST", "/pic/c/{c}/rencana-aksi/aksi/1"),
    ("GET", "/pic/c/{c}/rencana-aksi.xlsx"),
    ("POST", "/pic/c/{c}/rencana-aksi/impor"),
    ("POST", "/pic/c/{c}/rencana-aksi/aksi/1/bukti"),
    ("GET", "/pic/c/{c}/rencana-aksi/bukti/1"),
    ("GET", "/pic/c/{c}/kasus"),
    ("POST", "/pic/c/{c}/kasus/1"),
]
ADMIN_ROUTES = [
    ("GET", "/pic/admin/pengguna"),
    ("POST", "/pic/admin/pengguna"),
    ("POST", "/pic/admin/pengguna/pic.a/sandi"),
    ("POST", "/pic/admin/pengguna/pic.a/status"),
    ("GET", "/pic/admin/audit"),
    ("GET", "/pic/admin/audit.csv"),
    ("POST", "/pic/admin/pengiriman/lanjutkan"),
    ("GET", "/pic/admin/instansi"),
    ("POST", "/pic/admin/instansi"),
    ("GET", "/pic/akun/2fa"),
    ("POST", "/pic/akun/2fa"),
    ("POST", "/pic/akun/2fa/matikan"),
    ("POST", "/pic/c/{c}/siklus/arsip"),
]
OTHER_ROUTES = [("GET", "/pic"), ("POST", "/pic/logout"), ("POST", "/pic/kampanye"), ("GET", "/pic/inbox"),
                ("GET", "/pic/inbox/1"), ("POST", "/pic/inbox/1")]
PUBLIC = {"/pic/login", "/pic/login/kode", "/pic/static/live.js", "/pic/static/upload.js"}
# Route templates as the app declares them, for the coverage check.
DECLARED = {
    "/pic", "/pic/logout", "/pic/c/{campaign_id}", "/pic/c/{campaign_id}/{page}",
    "/pic/c/{campaign_id}/live.json", "/pic/c/{campaign_id}/{page}/export/{table}.{fmt}",
    "/pic/c/{campaign_id}/unit/{unit_id}/pengingat", "/pic/c/{campaign_id}/skor/laporan",
    "/pic/c/{campaign_id}/skor/laporan.{fmt}", "/pic/c/{campaign_id}/kualitas/laporan.xlsx",
    "/pic/c/{campaign_id}/qr/poster.pdf", "/pic/admin/pengguna", "/pic/admin/pengguna/{login}/sandi",
    "/pic/admin/pengguna/{login}/status", "/pic/c/{campaign_id}/integritas",
    "/pic/c/{campaign_id}/integritas/periksa", "/pic/c/{campaign_id}/integritas/tinjau/{response_id}",
    "/pic/admin/audit", "/pic/admin/audit.csv", "/pic/c/{campaign_id}/sampel/cadangan",
    "/pic/c/{campaign_id}/pengiriman/jeda", "/pic/c/{campaign_id}/pengiriman/lanjutkan",
    "/pic/c/{campaign_id}/pengiriman/batalkan", "/pic/admin/pengiriman/lanjutkan",
    "/pic/c/{campaign_id}/sampel", "/pic/c/{campaign_id}/sampel/tarik",
    "/pic/c/{campaign_id}/sampel/cadangan/{assignment_id}/batalkan",
    "/pic/c/{campaign_id}/data", "/pic/c/{campaign_id}/data/unggah", "/pic/c/{campaign_id}/data/simpan",
    "/pic/c/{campaign_id}/data/batal", "/pic/c/{campaign_id}/data/unit", "/pic/c/{campaign_id}/data/batas",
    "/pic/c/{campaign_id}/data/unit/{unit_id}/perbaikan.xlsx", "/pic/admin/instansi", "/pic/kampanye",
    "/pic/c/{campaign_id}/data/unit/{unit_id}/kontak", "/pic/c/{campaign_id}/data/unit/{unit_id}/tautan",
    "/pic/c/{campaign_id}/data/unit/{unit_id}/tautan/cabut",
    "/pic/akun/2fa", "/pic/akun/2fa/matikan",
    "/pic/c/{campaign_id}/loket", "/pic/c/{campaign_id}/loket/poster.{ext}", "/pic/c/{campaign_id}/luncurkan",
    "/pic/c/{campaign_id}/luncurkan/konfirmasi", "/pic/c/{campaign_id}/siklus/tutup",
    "/pic/c/{campaign_id}/siklus/buka", "/pic/c/{campaign_id}/siklus/arsip",
    "/pic/c/{campaign_id}/kasus", "/pic/c/{campaign_id}/kasus/{case_id}", "/pic/inbox", "/pic/inbox/{conv_id}",
    "/pic/c/{campaign_id}/rencana-aksi", "/pic/c/{campaign_id}/rencana-aksi/buat",
    "/pic/c/{campaign_id}/rencana-aksi/aksi/{item_id}", "/pic/c/{campaign_id}/rencana-aksi.xlsx",
    "/pic/c/{campaign_id}/rencana-aksi/impor", "/pic/c/{campaign_id}/rencana-aksi/aksi/{item_id}/bukti",
    "/pic/c/{campaign_id}/rencana-aksi/bukti/{evidence_id}",
}


def _url(template: str, world: World) -> str:
    return template.format(c=world.a.campaign.id, u=world.a.units[0].id)


def _call(client: TestClient, method: str, url: str, csrf: str | None = None) -> int:
    data = {"csrf": csrf} if csrf else {}
    response = client.request(method, url, data=data if method == "POST" else None, follow_redirects=False)
    return response.status_code


def test_every_route_is_covered() -> None:
    from monitor.router import router

    served = {r.path for r in router.routes if getattr(r, "path", "").startswith("/pic")}  # type: ignore[attr-defined]
    assert served - PUBLIC == DECLARED


def _check(results: dict[str, int], expected: object) -> None:
    wrong = {k: v for k, v in results.items() if (v not in expected if isinstance(expected, tuple) else v != expected)}
    assert not wrong, f"unexpected status codes: {wrong}"


def test_anonymous_is_sent_to_login(world: World, client: TestClient) -> None:
    results, targets = {}, {}
    for method, template in CAMPAIGN_ROUTES + ADMIN_ROUTES + OTHER_ROUTES:
        response = client.request(method, _url(template, world), follow_redirects=False)
        results[f"{method} {template}"] = response.status_code
        targets[template] = response.headers.get("location", "")
    _check(results, 303)
    assert all(t.startswith("/pic/login?next=") for t in targets.values()), targets


def test_other_institutions_pic_gets_404(world: World, as_user) -> None:
    client = as_user("pic.b")
    csrf = csrf_of(client, f"/pic/c/{world.b.campaign.id}/unit")
    results = {f"{m} {t}": _call(client, m, _url(t, world), csrf) for m, t in CAMPAIGN_ROUTES}
    _check(results, 404)


def test_admin_routes_refuse_pic_and_viewer(world: World, as_user) -> None:
    for user in ("pic.a", "viewer.a"):
        client = as_user(user)
        csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/unit")
        _check({f"{user} {m} {t}": _call(client, m, _url(t, world), csrf) for m, t in ADMIN_ROUTES}, 403)
        client.cookies.clear()


def test_viewer_cannot_run_integrity_checks_or_review(world: World, as_user) -> None:
    client = as_user("viewer.a")
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/integritas")
    for template in ("/pic/c/{c}/integritas/periksa", "/pic/c/{c}/integritas/tinjau/1"):
        assert _call(client, "POST", _url(template, world), csrf) == 403, template


def test_viewer_cannot_send_reminders(world: World, as_user) -> None:
    client = as_user("viewer.a")
    page = client.get(f"/pic/c/{world.a.campaign.id}/unit")
    assert "Kirim pengingat" not in page.text
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/unit")
    assert _call(client, "POST", _url("/pic/c/{c}/unit/{u}/pengingat", world), csrf) == 403


def test_pic_cannot_remind_another_institutions_unit(world: World, as_user) -> None:
    client = as_user("pic.a")
    csrf = csrf_of(client, f"/pic/c/{world.a.campaign.id}/unit")
    url = f"/pic/c/{world.a.campaign.id}/unit/{world.b.units[0].id}/pengingat"
    assert _call(client, "POST", url, csrf) == 404


def test_own_pic_and_admin_are_allowed(world: World, as_user) -> None:
    for user in ("pic.a", "admin"):
        client = as_user(user)
        results = {f"{user} {t}": _call(client, m, _url(t, world)) for m, t in CAMPAIGN_ROUTES if m == "GET"}
        pages = {k: v for k, v in results.items()
                 if "laporan." not in k and "poster" not in k and "/bukti/" not in k}  # no evidence 1
        _check(pages, 200)
        # downloads whose source is absent (score before close, no quality module) answer 404
        _check(results, (200, 404))
        client.cookies.clear()
