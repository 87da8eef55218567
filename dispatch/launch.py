"""Launching a campaign's invitation wave by hand (the dashboard's "Luncurkan"): whether it may go
now and why not, what it would send and when the last invitation is expected, and the launch.

The launch is `spibot send invitations` from a page: the same `enqueue_invitations` (audit-logged
with the person as actor), idempotent through the outbox keys, and it records the invitation
wave (`dispatch.waves.invitation_wave_key`) as started, so the scheduler does not run it again
and a reserve called up afterwards is invited at once (`invite_after_wave`).

Refused, with the reason in Indonesian, when the campaign has closed, has not opened yet, has no
sample, or the preflight (`spibot check`) fails. The SMTP login of the preflight is the caller's
choice (`smtp_login`): it costs a round trip to the mail server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.campaigns import has_ended
from core.clock import as_utc, format_datetime_id, utcnow
from core.config import Settings, get_settings
from core.models import Assignment, AssignmentKind, Campaign, Institution
from dispatch.limits import Plan, describe, plan
from dispatch.models import Outbox, Purpose, Wave
from dispatch.preflight import Problem, run_checks
from dispatch.preview import WavePreview, wave_preview
from dispatch.service import enqueue_invitations
from dispatch.waves import invitation_wave_key


class LaunchRefused(ValueError):
    """The invitation wave may not be launched now; `reasons` say why (Indonesian)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Readiness:
    """Everything the launch page shows, and whether the launch may go."""

    campaign_id: int
    problems: list[Problem]  # the preflight's failed checks (empty: all passed)
    sampled: int  # active respondents from the draw (participatory registrations not counted)
    refusals: list[str]  # why the launch is refused now (empty: it may go)
    preview: WavePreview | None  # None when the campaign has closed
    plan: Plan | None
    plan_text: str  # when the last WhatsApp invitation is expected, one line
    quiet_hours: str  # when bulk messages wait, one line
    started: bool  # the invitation wave was launched before (by a person or the scheduler)

    @property
    def messages(self) -> int:
        return self.preview.messages if self.preview else 0

    @property
    def can_launch(self) -> bool:
        return not self.refusals and self.messages > 0

    @property
    def idle_reason(self) -> str | None:
        """Why the launch button would do nothing, when nothing refuses it."""
        if self.refusals or self.messages:
            return None
        if self.preview is not None and self.preview.already_enqueued:
            return "Semua undangan sudah diantrekan; tidak ada undangan baru untuk dikirim."
        if self.preview is not None and self.preview.no_channel:
            return (f"0 undangan: {self.preview.no_channel} responden tanpa nomor WhatsApp atau email "
                    "yang dapat dipakai.")
        return "0 undangan: semua responden sudah menjawab atau tidak aktif."


def quiet_hours_text(settings: Settings) -> str:
    start, end = settings.quiet_start, settings.quiet_end
    if start == end:
        return "Tidak ada jam tenang: pesan massal dapat terkirim kapan saja."
    return (f"Jam tenang {start.replace(':', '.')}–{end.replace(':', '.')} waktu setempat responden: "
            "pesan massal menunggu sampai jam tenang selesai, jadi perkiraan di atas dapat bergeser ± 1 hari.")


def sampled_count(session: Session, campaign_id: int) -> int:
    """Active respondents of the campaign from the draw (sampled, called-up reserves, experts)."""
    return int(session.execute(
        select(func.count()).select_from(Assignment).where(
            col(Assignment.campaign_id) == campaign_id, col(Assignment.active).is_(True),
            col(Assignment.kind) != AssignmentKind.participatory)).scalar_one())


def wave_started(session: Session, campaign_id: int) -> bool:
    key = invitation_wave_key(campaign_id)
    if session.execute(select(col(Wave.id)).where(col(Wave.key) == key)).first() is not None:
        return True
    return session.execute(select(col(Outbox.id)).where(
        col(Outbox.campaign_id) == campaign_id, col(Outbox.purpose) == Purpose.invitation).limit(1)).first() is not None


def _refusals(campaign: Campaign, institution: Institution, sampled: int, problems: list[Problem],
              now: datetime) -> list[str]:
    assert campaign.opens_at is not None
    if has_ended(campaign, now):
        return ["Kampanye sudah ditutup: undangan tidak dikirim lagi."]
    out = []
    if now < as_utc(campaign.opens_at):
        out.append(f"Kampanye baru dibuka {format_datetime_id(campaign.opens_at, institution.timezone)}; "
                   "undangan dapat diluncurkan mulai saat itu.")
    if not sampled:
        out.append("0 responden: belum ada sampel. Tarik sampel dulu di halaman Sampel.")
    if problems:
        out.append(f"Pemeriksaan sebelum pengiriman belum lulus ({len(problems)} hal perlu diperbaiki, "
                   "lihat daftar periksa).")
    return out


def _context(session: Session, campaign_id: int, settings: Settings | None, smtp_login: bool,
             problems: list[Problem] | None, now: datetime | None,
             ) -> tuple[Settings, datetime, Campaign, Institution, list[Problem]]:
    """What readiness and launch both start from: settings, now, the campaign and its institution,
    and the preflight (run here unless the caller ran it)."""
    settings = settings or get_settings()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ValueError(f"campaign {campaign_id} does not exist")
    institution = session.get(Institution, campaign.institution_id)
    assert institution is not None
    if problems is None:
        problems = run_checks(settings, smtp_login=smtp_login)
    return settings, now or utcnow(), campaign, institution, problems


def readiness(session: Session, campaign_id: int, *, settings: Settings | None = None,
              smtp_login: bool = False, problems: list[Problem] | None = None,
              now: datetime | None = None) -> Readiness:
    """The preflight, the sample, the campaign's state, the wave's preview and the plan. Writes
    nothing. `problems`: the preflight's result when the caller already has it."""
    settings, now, campaign, institution, problems = _context(session, campaign_id, settings, smtp_login,
                                                             problems, now)
    sampled = sampled_count(session, campaign_id)
    refusals = _refusals(campaign, institution, sampled, problems, now)
    preview = found = None
    text = "Kampanye sudah ditutup: tidak ada yang dikirim."
    if not has_ended(campaign, now):
        preview = wave_preview(session, campaign_id, "invitation", now=now)
        found = plan(session, limit=settings.whatsapp_daily_limit, campaign_id=campaign_id,
                     extra=preview.whatsapp, now=now)
        text = describe(found, institution.timezone)
    return Readiness(campaign_id=campaign_id, problems=problems, sampled=sampled, refusals=refusals,
                     preview=preview, plan=found, plan_text=text, quiet_hours=quiet_hours_text(settings),
                     started=wave_started(session, campaign_id))


def launch(session: Session, campaign_id: int, *, actor: str, settings: Settings | None = None,
           smtp_login: bool = False, problems: list[Problem] | None = None,
           now: datetime | None = None) -> int:
    """Enqueue the invitation wave now (idempotent: a second launch enqueues only what is new,
    usually nothing); LaunchRefused when it may not go. Returns the messages enqueued.
    `problems`: the preflight's result, run by the caller before its write transaction (the SMTP
    login should not hold the database's write lock); None runs it here."""
    settings, now, campaign, institution, problems = _context(session, campaign_id, settings, smtp_login,
                                                             problems, now)
    refusals = _refusals(campaign, institution, sampled_count(session, campaign_id), problems, now)
    if refusals:
        raise LaunchRefused(refusals)
    key = invitation_wave_key(campaign_id)
    wave = session.execute(select(Wave).where(col(Wave.key) == key)).scalar_one_or_none()
    if wave is None:
        try:
            with session.begin_nested():
                session.add(Wave(key=key, campaign_id=campaign_id, purpose=Purpose.invitation.value,
                                 actor=actor[:120], enqueued=-1, created_at=now))
        except IntegrityError:  # the scheduler (or another click) started it meanwhile
            pass
    n = enqueue_invitations(session, campaign_id, now=now, actor=actor)
    # -1 (started, not finished) becomes the count; a finished wave adds what was new
    session.execute(update(Wave).where(col(Wave.key) == key).values(
        enqueued=case((col(Wave.enqueued) < 0, n), else_=col(Wave.enqueued) + n)))
    return n
