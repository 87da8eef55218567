"""One typed settings class, read from the environment and `.env`.

Every field is listed in `.env.example` with a safe placeholder. Placeholder secrets are refused
outside development and tests.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-change-me-0123456789abcdef"  # noqa: S105 - placeholder, refused in prod


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- general -------------------------------------------------------------------------
    env: Literal["dev", "test", "prod"] = "dev"
    secret_key: str = DEV_SECRET
    database_url: str = f"sqlite:///{ROOT / 'var' / 'spibot.db'}"
    public_base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs,
    # e.g. the nginx in front). Empty: none, every client is the peer address (a forged header
    # cannot dodge the per-IP limits).
    forwarded_allow_ips: str = ""
    data_dir: Path = ROOT / "var"
    min_cell_size: int = 5
    retention_days: int = 365
    log_level: str = "INFO"
    # Shares the per-IP limits (core.ratewindow) across web workers and machines; unset or
    # empty: each web worker counts alone. Send rates are shared through the database anyway.
    redis_url: str | None = None

    # --- observability (docs/observability.md) -------------------------------------------------
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, with request_id
    # /metrics answers a request bearing `Authorization: Bearer <METRICS_TOKEN>` from anywhere;
    # without a token (or unset), only a direct (not proxied) request from METRICS_ALLOW_IPS.
    metrics_token: str | None = None
    metrics_allow_ips: str = "127.0.0.1,::1"  # IPs or networks (CIDR), comma-separated
    metrics_cache_seconds: float = 5.0  # database figures of /metrics are recomputed at most this often
    # prometheus_client multiprocess mode: every process of this host sharing the directory is
    # summed in /metrics (web workers, the embedded scheduler and worker). Unset: per process.
    prometheus_multiproc_dir: Path | None = None
    # A standalone process (`spibot worker`) serves its own /metrics on this port (0: none).
    metrics_port: int = 0
    metrics_bind: str = "127.0.0.1"

    # --- WhatsApp via Twilio ---------------------------------------------------------------
    whatsapp_backend: Literal["sandbox", "twilio"] = "sandbox"
    twilio_account_sid: str = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    twilio_auth_token: str = "placeholder-auth-token"  # noqa: S105
    twilio_api_base_url: str | None = None  # tests point this at a local fake Twilio API
    whatsapp_sender_internal: str = "whatsapp:+628111919476"
    whatsapp_sender_external: str = "whatsapp:+628111919477"
    twilio_content_sid_invitation: str = "HXinvitation00000000000000000000"
    twilio_content_sid_reminder: str = "HXreminder0000000000000000000000"
    twilio_content_sid_registration: str = "HXregistration000000000000000000"
    twilio_timeout_seconds: float = 10.0  # a send with no answer by then is reconciled, not resent
    whatsapp_rate_per_sender: float = 80.0
    # WhatsApp messaging limit: unique numbers reached with templates in any rolling 24 h, over
    # both senders (Meta's tier: 250, 2000, 10000, 100000; 0 = unlimited). Unset: unlimited, and
    # `spibot check` refuses to send in production until it is set.
    whatsapp_daily_limit: int | None = None
    # How much a request's time in transit to the provider may vary (seconds). The per-second cap
    # is kept at the provider's clock as long as transit varies by no more than this; `inf` keeps
    # it whatever the delays, at the cost of rate (each message then counts until its answer + 1 s).
    rate_transit_spread_seconds: float = 0.03

    # --- email via SMTP ----------------------------------------------------------------------
    email_backend: Literal["sandbox", "smtp"] = "sandbox"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_pool_size: int = 4
    smtp_local_hostname: str = "spibot.local"
    email_from: str = "SPI <spi@example.go.id>"
    email_rate_per_server: float = 10.0

    # --- email deliverability (Gmail/Yahoo bulk-sender rules, docs/whatsapp.md §6) -------------
    # DKIM: every email is signed when all three are set (a PEM RSA key; its public half goes in
    # DNS at <selector>._domainkey.<domain>). Use the From domain, so DMARC sees them aligned.
    dkim_private_key_file: str | None = None  # a path (str: an empty value in .env is unset)
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    # VERP: each email's envelope sender (Return-Path) becomes <local>+<outbox id>-<hmac>@<domain>
    # of this address, so a bounce that comes back later names its outbox row. Unset: From.
    bounce_address: str | None = None
    # The mailbox BOUNCE_ADDRESS delivers to, read every 5 minutes for late bounces (DSNs); an
    # address that bounced for good is marked unreachable. Unset host: not read.
    bounce_imap_host: str | None = None
    bounce_imap_port: int = 993
    bounce_imap_user: str | None = None
    bounce_imap_password: str | None = None
    bounce_imap_tls: bool = True  # implicit TLS (993); false: plaintext, for a local server only
    bounce_imap_folder: str = "INBOX"

    # --- dispatch --------------------------------------------------------------------------
    quiet_start: str = "21:00"  # local time; no bulk message from here ...
    quiet_end: str = "08:30"  # ... until here
    lease_seconds: int = 120
    max_attempts: int = 6
    worker_batch_size: int = 200
    worker_concurrency: int = 64
    reminder_offsets_days: str = "3,7,14"
    reminder_min_gap_days: int = 2
    reminder_max_count: int = 3
    last_call_days_before_close: int = 2
    reconcile_delay_seconds: float = 20.0  # wait before looking up an ambiguous (timed-out) send

    # Admins who get an email when bulk sending stops by itself (comma-separated).
    alert_emails: str = ""
    # Operational alerts (dispatch.alerts.check_ops, every minute; one email per incident):
    alert_worker_silent_minutes: float = 5.0  # no dispatch worker heartbeat for this long
    alert_callback_lag_minutes: float = 15.0  # WhatsApp messages without any status callback ...
    alert_callback_lag_min_messages: int = 5  # ... this many of them, sent this long ago
    alert_disk_min_free_percent: float = 10.0  # DATA_DIR (and ALERT_DISK_PATHS) below this share ...
    alert_disk_min_free_mb: int = 1024  # ... or below this many MB free
    alert_disk_paths: str = ""  # more directories to watch (e.g. the webhook spool), comma-separated
    # Quality guard: over the last QUALITY_WINDOW_HOURS, once a sender has sent at least
    # QUALITY_MIN_SENT templates, its bulk lane pauses by itself when opt-outs (STOP), messages
    # WhatsApp held back (per-user marketing limits, experiments) or undelivered messages pass these
    # shares of what it sent, or the read share falls under QUALITY_MIN_READ_RATE (0 = not checked).
    quality_window_hours: float = 24.0
    quality_min_sent: int = 100
    quality_max_optout_rate: float = 0.02
    quality_max_held_back_rate: float = 0.05
    quality_max_undelivered_rate: float = 0.15
    quality_min_read_rate: float = 0.0

    # --- bot -------------------------------------------------------------------------------
    call_centre: str = "Call center SPI 198 (setiap hari 08.30-22.00 WIB)"
    bot_rate_limit_per_minute: int = 30
    bot_rate_limit_mute_minutes: int = 5  # a number over the limit is ignored this long
    bot_faq_file: Path | None = None  # the PIC's own FAQ (YAML); default bot/data/faq.yaml

    # --- survey ------------------------------------------------------------------------------
    sample_margin: float = 0.05
    sample_confidence: float = 0.95
    sample_reserve_ratio: float = 0.5  # reserves per unit, as a share of its sample (population)
    expert_per_criterion: int = 3  # experts chosen per criterion (population)

    # --- responses (questionnaire, imports, scoring) ------------------------------------------
    # Bearer secret for POST /api/responses/submissions (CAPI/other platforms); unset = disabled.
    responses_webhook_secret: str | None = None

    # --- qr (posters, participatory registration) ----------------------------------------
    qr_ip_limit: int = 20  # registrations/guest-book entries per client IP ...
    qr_ip_window_seconds: int = 3600  # ... in this window (shared via REDIS_URL, else per worker)
    qr_counter_limit: int = 30  # registrations per counter (loket) ...
    qr_counter_window_seconds: int = 600  # ... in this window (counted in the database)
    qr_png_dpi: int = 150  # resolution of PNG posters

    # --- monitor (PIC dashboard) -------------------------------------------------------------
    # Failed dashboard logins: per IP and login, and per IP across logins, in a window. Never per
    # account alone: a stranger must not be able to lock the PIC out of their own account.
    monitor_lockout_attempts: int = 5  # failures of one IP on one login ...
    monitor_lockout_ip_attempts: int = 30  # ... or of one IP on any login ...
    monitor_lockout_minutes: int = 15  # ... within this long, then 429 until they age out
    monitor_session_hours: int = 12  # a login ends this long after it began (absolute) ...
    monitor_session_idle_minutes: int = 60  # ... or after this long without a request (idle)
    # Admins must use a TOTP second factor (an admin without one is asked to enrol first).
    monitor_admin_totp_required: bool = False
    monitor_refresh_seconds: int = 30  # how often dashboard pages poll for new figures
    monitor_snapshot_seconds: int = 300  # national view: refresh the snapshot when older

    # --- integrity (signals, purge, security) -------------------------------------------------
    token_miss_limit: int = 20  # unknown /s/<token> links per IP per window before 429
    token_miss_window_seconds: int = 600

    # --- deploy (processes, backups; docs/deploy.md) -------------------------------------------
    # Seconds a stopping web process waits for its in-flight requests before closing them.
    shutdown_grace_seconds: int = 20
    # Where `spibot backup` (and the daily scheduler job, which runs only when this is set) writes
    # PostgreSQL dumps / SQLite copies (str: an empty value in .env is unset).
    backup_dir: str | None = None
    backup_keep: int = 7  # days of backups kept (the newest of each day; older days removed)
    backup_hour_utc: int = 19  # the daily backup's hour in UTC (19 = 02:00 WIB)

    @model_validator(mode="after")
    def _refuse_placeholders_in_prod(self) -> Settings:
        if self.env == "prod":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("SECRET_KEY must be set to a random value of >= 32 characters")
            if self.whatsapp_backend == "twilio" and "placeholder" in self.twilio_auth_token:
                raise ValueError("TWILIO_AUTH_TOKEN must be set when WHATSAPP_BACKEND=twilio")
        return self

    @model_validator(mode="after")
    def _check_redis_url(self) -> Settings:
        # Refused at start: a mistyped URL would otherwise fail on the first public request.
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
