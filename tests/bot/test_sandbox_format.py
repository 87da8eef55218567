"""The sandbox simulator shows WhatsApp's *bold*, _italic_ and ~strikethrough~ as a phone does,
and never lets a message's text become HTML (escaped first, then converted)."""

from __future__ import annotations

import pytest

from bot.sandbox_pages import Bubble, whatsapp_html
from core.clock import utcnow
from core.templating import get_env


@pytest.mark.parametrize(("text", "html"), [
    ("Ketik *Isi Survei* untuk", "Ketik <strong>Isi Survei</strong> untuk"),
    ("_miring_ dan *tebal*", "<em>miring</em> dan <strong>tebal</strong>"),
    ("~coret~", "<s>coret</s>"),
    ("https://spi.test/s/ab_cd_ef", "https://spi.test/s/ab_cd_ef"),  # underscores inside a word
    ("2 * 3 * 4", "2 * 3 * 4"),
    ("a*b*c", "a*b*c"),
    ("* bukan tebal *", "* bukan tebal *"),
])
def test_whatsapp_markers(text: str, html: str) -> None:
    assert str(whatsapp_html(text)) == html


def test_text_is_escaped_before_the_markers_become_tags() -> None:
    assert str(whatsapp_html("*<b>hai</b>* <script>alert(1)</script>")) == (
        "<strong>&lt;b&gt;hai&lt;/b&gt;</strong> &lt;script&gt;alert(1)&lt;/script&gt;")
    assert str(whatsapp_html('_" onmouseover="x_')) == "<em>&#34; onmouseover=&#34;x</em>"


def test_the_chat_page_renders_the_formatting() -> None:
    bubble = Bubble(at=utcnow(), mine=False, text="Ketik *Isi Survei* <i>x</i>")
    page = get_env().get_template("bot/sandbox_chat.html").render(
        person={"name": "Budi", "id": 1}, phone="+62812******22", bubbles=[bubble], suggestions=[])
    assert "Ketik <strong>Isi Survei</strong> &lt;i&gt;x&lt;/i&gt;" in page
