"""Editing one's own profile, /settings/profile/, avatar uploads included."""

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Industry, Member
from tests.accounts.helpers import field_errors, picture

URL = "/settings/profile/"
REPO_MEDIA = Path(settings.BASE_DIR) / "media"


def _form(member: Member, **overrides) -> dict:
    data = {
        "display_name": member.display_name,
        "headline": member.headline,
        "company": member.company,
        "industry": member.industry,
        "location": member.location,
        "timezone": member.timezone,
        "about": member.about,
    }
    data.update(overrides)
    return data


def _snapshot(member: Member) -> dict:
    member.refresh_from_db()
    return {f: getattr(member, f) for f in [*_form(member), "avatar"]}


def _upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def test_it_sends_visitors_to_sign_in(client, db):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"


def test_it_keeps_visitors_from_posting(client, alice):
    response = client.post(URL, _form(alice, display_name="Mallory"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    alice.refresh_from_db()
    assert alice.display_name == "Alice Moreau"


def test_it_shows_the_form_filled_in(client, alice):
    client.force_login(alice)

    page = client.get(URL).content.decode()

    assert 'value="Alice Moreau"' in page
    assert 'value="Principal engineer"' in page
    assert 'enctype="multipart/form-data"' in page


def test_it_saves_the_fields(client, alice):
    client.force_login(alice)

    response = client.post(
        URL,
        _form(
            alice,
            display_name="Alice Moreau-Duval",
            headline="CTO",
            company="Acme Payments",
            industry=Industry.FINANCE,
            location="Paris",
            timezone="Europe/Paris",
            about="Twenty years of ledgers.",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == "/in/alice-moreau/"
    alice.refresh_from_db()
    assert alice.display_name == "Alice Moreau-Duval"
    assert alice.headline == "CTO"
    assert alice.company == "Acme Payments"
    assert alice.industry == "finance"
    assert alice.location == "Paris"
    assert alice.timezone == "Europe/Paris"
    assert alice.about == "Twenty years of ledgers."
    # The profile address does not move when the name changes.
    assert alice.handle == "alice-moreau"
    page = client.get(response["Location"]).content.decode()
    assert "Profile saved." in page
    assert "Financial Services" in page


def test_it_stores_an_avatar_under_media_root(client, alice):
    client.force_login(alice)

    response = client.post(URL, {**_form(alice), "avatar": _upload("me.png", picture("PNG"))})

    assert response.status_code == 302
    alice.refresh_from_db()
    stored = Path(alice.avatar.path).resolve()
    assert stored.is_file()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert not stored.is_relative_to(REPO_MEDIA.resolve())
    assert alice.avatar.name.startswith("avatars/")
    assert alice.avatar.url.startswith("/uploads/avatars/")
    assert f'src="{alice.avatar.url}"' in client.get("/in/alice-moreau/").content.decode()


def test_it_accepts_jpeg_and_webp(client, alice):
    client.force_login(alice)

    for fmt, name in (("JPEG", "me.jpg"), ("WEBP", "me.webp")):
        response = client.post(URL, {**_form(alice), "avatar": _upload(name, picture(fmt))})
        assert response.status_code == 302, fmt
        alice.refresh_from_db()
        assert alice.avatar.name.endswith(name.rpartition(".")[2])


def _rejected(client, member: Member, field: str, **data) -> str:
    before = _snapshot(member)
    client.force_login(member)

    response = client.post(URL, {**_form(member), **data})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Please correct the errors below." in page
    assert _snapshot(member) == before
    errors = field_errors(page, field)
    assert errors, f"no error shown next to {field}"
    return errors


def test_it_rejects_text_named_png(client, alice):
    errors = _rejected(client, alice, "avatar", avatar=_upload("me.png", b"not a picture at all"))

    assert "Upload a valid image" in errors


def test_it_rejects_a_gif(client, alice):
    errors = _rejected(
        client, alice, "avatar", avatar=_upload("me.gif", picture("GIF"), "image/gif")
    )

    assert "Use a JPEG, PNG or WebP picture." in errors


def test_it_rejects_a_gif_named_png(client, alice):
    errors = _rejected(client, alice, "avatar", avatar=_upload("me.png", picture("GIF")))

    assert "Use a JPEG, PNG or WebP picture." in errors


def test_it_rejects_a_picture_over_2_mb(client, alice):
    big = picture("PNG", (900, 900), noise=True)
    assert len(big) > 2 * 1024 * 1024

    errors = _rejected(client, alice, "avatar", avatar=_upload("big.png", big))

    assert "The picture must be 2 MB or smaller." in errors


def test_it_rejects_a_picture_wider_than_4096_px(client, alice):
    errors = _rejected(
        client, alice, "avatar", avatar=_upload("wide.png", picture("PNG", (4097, 8)))
    )

    assert "The picture must be at most 4096 px on each side." in errors


def test_it_accepts_a_picture_exactly_4096_px(client, alice):
    client.force_login(alice)

    response = client.post(
        URL, {**_form(alice), "avatar": _upload("tall.png", picture("PNG", (8, 4096)))}
    )

    assert response.status_code == 302


def test_it_rejects_an_unknown_timezone(client, alice):
    errors = _rejected(client, alice, "timezone", timezone="Mars/Olympus_Mons")

    assert "Select a valid choice." in errors


def test_it_rejects_an_empty_name(client, alice):
    errors = _rejected(client, alice, "display_name", display_name="   ")

    assert "This field is required." in errors


def test_it_rejects_an_unknown_industry(client, alice):
    errors = _rejected(client, alice, "industry", industry="astrology")

    assert "Select a valid choice." in errors


def test_it_keeps_the_avatar_when_none_is_uploaded(client, alice):
    client.force_login(alice)
    client.post(URL, {**_form(alice), "avatar": _upload("me.png", picture("PNG"))})
    alice.refresh_from_db()
    before = alice.avatar.name

    client.post(URL, _form(alice, headline="CTO"))

    alice.refresh_from_db()
    assert alice.avatar.name == before
    assert alice.headline == "CTO"


def test_it_clears_the_avatar(client, alice):
    client.force_login(alice)
    client.post(URL, {**_form(alice), "avatar": _upload("me.png", picture("PNG"))})

    client.post(URL, {**_form(alice), "avatar-clear": "on"})

    alice.refresh_from_db()
    assert not alice.avatar


def test_it_shows_the_saved_identity_around_a_rejected_form(client, alice):
    client.force_login(alice)

    response = client.post(
        URL,
        {
            **_form(alice, display_name="Mallory Evil", timezone="Mars/Olympus_Mons"),
            "avatar": _upload("me.png", picture("PNG")),
        },
    )

    page = response.content.decode()
    # The form itself keeps what was typed; the rest of the page shows what is saved.
    assert 'name="display_name" value="Mallory Evil"' in page
    assert "<strong>Alice Moreau</strong>" in page
    assert "<strong>Mallory Evil</strong>" not in page
    # No <img> pointing at a picture that was never stored.
    assert 'src="/uploads/me.png"' not in page


def _with_gps_exif(fmt: str, orientation: int = 1) -> bytes:
    """A picture carrying EXIF as a phone writes it: GPS position, camera, orientation."""
    import io

    from PIL import Image

    image = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = orientation  # Orientation
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def test_an_avatar_is_stored_without_its_exif_and_gps(client, alice):
    from PIL import Image

    client.force_login(alice)
    for fmt, name in (("JPEG", "me.jpg"), ("WEBP", "me.webp"), ("PNG", "me.png")):
        upload = _with_gps_exif(fmt)
        assert b"PhoneMaker" in upload
        response = client.post(URL, {**_form(alice), "avatar": _upload(name, upload)})
        assert response.status_code == 302, fmt
        alice.refresh_from_db()
        stored = Path(alice.avatar.path).read_bytes()
        assert b"PhoneMaker" not in stored, fmt
        with Image.open(alice.avatar.path) as image:
            assert image.format == fmt
            assert not image.getexif(), fmt
            assert image.size == (40, 20)


def test_the_orientation_exif_asked_for_is_applied_before_it_is_dropped(client, alice):
    from PIL import Image

    client.force_login(alice)
    rotated = _with_gps_exif("JPEG", orientation=6)  # "rotate 90° clockwise to display"
    response = client.post(URL, {**_form(alice), "avatar": _upload("me.jpg", rotated)})
    assert response.status_code == 302
    alice.refresh_from_db()
    with Image.open(alice.avatar.path) as image:
        assert image.size == (20, 40)  # displayed the right way up
        assert not image.getexif()
