"""Reporting (/report/) and a platform moderator handling reports in the dashboard.

Members report a member from their profile or a room from its page. The reported member never
learns who reported them; repeats of an open report merge; a reporter may file
REPORTS_PER_WINDOW new reports per window. Moderators find reports in the queue, take them,
act, close them, and every step shows in the audit log.
"""

import contextlib
import re
from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from rooms.models import AuditAction, Report, ReportCategory, Room, Warning
from rooms.moderation import services as moderation
from tests.conftest import make_group, make_member, make_room
from tests.moderation.helpers import flashes, logged_in, make_platform_moderator


@pytest.fixture
def room(alice):
    return make_room(alice, title="Scaling Postgres")


def _report_ids(response) -> list[int]:
    """The reports listed in the queue, in page order."""
    return [
        int(pk)
        for pk in re.findall(
            r'<td><a href="/moderation/reports/(\d+)/">', response.content.decode()
        )
    ]


def _entries(response) -> list[tuple[str, int | None]]:
    """The audit log page's entries as (action, target member id)."""
    return [(e.action, e.target_member_id) for e in response.context["page"].object_list]


# --- Filing -----------------------------------------------------------------------------------


def test_it_shows_the_report_form_from_a_profile(client, bob, carol):
    client.force_login(bob)
    profile = client.get(f"/in/{carol.handle}/")
    assert f'href="/report/?member={carol.handle}"' in profile.content.decode()

    response = client.get(f"/report/?member={carol.handle}")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Report Carol Nguyen" in page
    assert f'name="member" value="{carol.handle}"' in page
    assert page.count('name="category"') == len(ReportCategory.choices)


def test_it_files_a_report_about_a_member_and_thanks_the_reporter(client, bob, carol):
    client.force_login(bob)

    response = client.post(
        "/report/", {"member": carol.handle, "category": "harassment", "details": "Insults."}
    )

    assert response.status_code == 302
    assert response.url == f"/in/{carol.handle}/"
    assert flashes(response) == [
        (
            "success",
            "Thanks for the report. Moderators will look at it; "
            "the member won't know who reported them.",
        )
    ]
    report = Report.objects.get()
    assert (report.reporter, report.target_member, report.room) == (bob, carol, None)
    assert (report.category, report.details, report.status) == ("harassment", "Insults.", "open")


def test_it_files_a_report_about_a_room(client, dan, room):
    client.force_login(dan)
    assert client.get(f"/report/?room={room.pk}").status_code == 200

    response = client.post("/report/", {"room": room.pk, "category": "spam", "details": "Ads."})

    assert response.status_code == 302
    assert response.url == f"/rooms/{room.pk}/"
    report = Report.objects.get()
    assert (report.reporter, report.target_member, report.room) == (dan, None, room)


def test_it_requires_a_category(client, bob, carol):
    client.force_login(bob)

    response = client.post("/report/", {"member": carol.handle, "details": "Insults."})

    assert response.status_code == 200
    assert response.context["form"].errors["category"]
    assert not Report.objects.exists()


def test_it_never_shows_the_reported_member_who_reported_them(client, alice, bob, carol, mod):
    # Carol hosts the room she was reported in, so her room page has the moderators' panel.
    room = make_room(carol, title="Carol's AMA")
    reporter = logged_in(bob)
    reporter.post(
        "/report/",
        {"member": carol.handle, "room": room.pk, "category": "harassment", "details": "Rude."},
    )
    reporter.post("/report/", {"room": room.pk, "category": "spam"})
    report = Report.objects.get(target_member=carol)
    # Moderators act on the report: carol is warned and the report is resolved.
    moderation.member_warn(actor=mod, member=carol, message="Be civil.", report=report)
    moderation.report_resolve(actor=mod, report=report, note="Warned.")

    pages = ["/", f"/in/{carol.handle}/", f"/rooms/{room.pk}/"]
    with contextlib.suppress(NoReverseMatch):  # versions without notifications
        pages.append(reverse("notifications"))
    client.force_login(carol)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        for trace in (bob.display_name, bob.handle, bob.email, "Okafor"):
            assert trace not in page, (url, trace)
    assert Warning.objects.get(member=carol).seen_at is not None  # she saw the warning

    # The same search finds the reporter where moderators look.
    client.force_login(make_platform_moderator())
    assert bob.display_name in client.get(f"/moderation/reports/{report.pk}/").content.decode()


def test_it_merges_repeats_of_an_open_report(client, bob, carol):
    client.force_login(bob)
    client.post("/report/", {"member": carol.handle, "category": "spam", "details": "Links."})

    response = client.post(
        "/report/", {"member": carol.handle, "category": "spam", "details": "More links."}
    )

    assert response.status_code == 302
    assert flashes(response)[-1] == ("success", "Thanks. We added this to your earlier report.")
    report = Report.objects.get()
    assert report.times_reported == 2
    assert report.details == "Links.\n\nMore links."


def test_it_files_a_new_report_once_the_earlier_one_is_closed(client, bob, carol, mod):
    client.force_login(bob)
    client.post("/report/", {"member": carol.handle, "category": "spam"})
    moderation.report_dismiss(actor=mod, report=Report.objects.get(), reason="Not spam.")

    client.post("/report/", {"member": carol.handle, "category": "spam"})

    assert Report.objects.filter(status="open").count() == 1
    assert Report.objects.count() == 2


def test_it_limits_how_many_new_reports_a_member_files(client, bob, carol):
    targets = [make_member() for _ in range(moderation.REPORTS_PER_WINDOW)]
    for target in targets:
        moderation.report_file(reporter=bob, category="spam", target_member=target)
    client.force_login(bob)

    response = client.post("/report/", {"member": carol.handle, "category": "spam"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "You've sent many reports recently. Please try again later."
    ]
    assert "You&#x27;ve sent many reports recently." in response.content.decode()
    assert not Report.objects.filter(target_member=carol).exists()
    assert Report.objects.count() == moderation.REPORTS_PER_WINDOW

    # A repeat of an open report still merges; it isn't a new report.
    client.post("/report/", {"member": targets[0].handle, "category": "spam"})
    assert Report.objects.get(target_member=targets[0]).times_reported == 2

    # Other members aren't limited by bob's reports.
    client.force_login(make_member())
    client.post("/report/", {"member": carol.handle, "category": "spam"})
    assert Report.objects.filter(target_member=carol).count() == 1

    # Once the window has passed, bob may report again.
    Report.objects.filter(reporter=bob).update(
        created_at=timezone.now() - moderation.REPORT_WINDOW - timedelta(minutes=1)
    )
    client.force_login(bob)
    client.post("/report/", {"member": carol.handle, "category": "spam"})
    assert Report.objects.filter(reporter=bob, target_member=carol).exists()


def test_it_refuses_a_report_about_yourself(client, bob):
    client.force_login(bob)

    response = client.post("/report/", {"member": bob.handle, "category": "spam"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["You can't report yourself."]
    assert not Report.objects.exists()


def test_it_refuses_a_report_about_a_group_room_you_cannot_see(client, alice, bob, dan):
    group = make_group(alice, private=True, members=[bob])
    hidden = make_room(alice, group=group, visibility=Room.Visibility.GROUP)
    client.force_login(dan)

    shown = client.get(f"/report/?room={hidden.pk}")
    response = client.post("/report/", {"room": hidden.pk, "category": "spam"})

    for answer in (shown, response):
        assert answer.status_code == 302
        assert answer.url == "/"
    assert flashes(response)[-1] == ("error", "You can't report that room.")
    assert not Report.objects.exists()
    # Naming a member too files the report about the member, never about the hidden room.
    client.post("/report/", {"member": bob.handle, "room": hidden.pk, "category": "spam"})
    assert list(Report.objects.values_list("target_member", "room")) == [(bob.pk, None)]


# --- Handling, end to end ---------------------------------------------------------------------


def test_a_moderator_handles_a_report_end_to_end(client, alice, bob, carol, dan, mod, staff):
    room = make_room(alice, title="Hiring in 2025")
    logged_in(bob).post(
        "/report/",
        {"member": carol.handle, "room": room.pk, "category": "harassment", "details": "Slurs."},
    )
    logged_in(dan).post("/report/", {"room": room.pk, "category": "spam"})
    about_carol = Report.objects.get(target_member=carol)
    about_room = Report.objects.get(target_member=None)
    client.force_login(mod)

    # The queue: open reports by default, filtered by status and category.
    assert set(_report_ids(client.get("/moderation/reports/"))) == {about_carol.pk, about_room.pk}
    assert _report_ids(client.get("/moderation/reports/?category=harassment")) == [about_carol.pk]
    assert _report_ids(client.get("/moderation/reports/?status=open&category=spam")) == [
        about_room.pk
    ]
    assert _report_ids(client.get("/moderation/reports/?status=resolved")) == []
    detail = client.get(f"/moderation/reports/{about_carol.pk}/")
    assert detail.status_code == 200
    assert "Slurs." in detail.content.decode()

    # Take it, warn carol from it, resolve it.
    response = client.post(f"/moderation/reports/{about_carol.pk}/assign/")
    assert response.url == f"/moderation/reports/{about_carol.pk}/"
    assert _report_ids(client.get("/moderation/reports/?mine=1")) == [about_carol.pk]
    response = client.post(
        f"/moderation/members/{carol.handle}/warn/",
        {
            "message": "Slurs have no place on Podium.",
            "report": about_carol.pk,
            "next": f"/moderation/reports/{about_carol.pk}/",
        },
    )
    assert response.url == f"/moderation/reports/{about_carol.pk}/"
    warning = Warning.objects.get(member=carol)
    assert (warning.issued_by, warning.report) == (mod, about_carol)
    response = client.post(
        f"/moderation/reports/{about_carol.pk}/resolve/", {"note": "Warned the member."}
    )
    assert flashes(response)[-1] == ("success", "Report resolved.")
    about_carol.refresh_from_db()
    assert (about_carol.status, about_carol.resolution) == ("resolved", "Warned the member.")
    assert (about_carol.resolved_by, about_carol.assigned_to) == (mod, mod)
    assert about_carol.resolved_at is not None
    assert _report_ids(client.get("/moderation/reports/")) == [about_room.pk]
    assert _report_ids(client.get("/moderation/reports/?status=resolved")) == [about_carol.pk]

    # A second moderator dismisses the room report.
    logged_in(staff).post(
        f"/moderation/reports/{about_room.pk}/dismiss/", {"reason": "An ad for a meetup."}
    )

    # The audit log lists every step, newest first, and each filter narrows it.
    log = client.get("/moderation/audit/")
    page = log.content.decode()
    for label in ("Took a report", "Warned", "Resolved a report", "Dismissed a report"):
        assert label in page
    assert _entries(log) == [
        (AuditAction.REPORT_DISMISS, None),
        (AuditAction.REPORT_RESOLVE, carol.pk),
        (AuditAction.MEMBER_WARN, carol.pk),
        (AuditAction.REPORT_ASSIGN, carol.pk),
    ]

    def actions(query: str) -> list[str]:
        return [action for action, _ in _entries(client.get(f"/moderation/audit/?{query}"))]

    assert actions(f"actor={mod.handle}") == ["report.resolve", "member.warn", "report.assign"]
    assert actions(f"actor={staff.email.upper()}") == ["report.dismiss"]
    assert actions(f"actor={bob.handle}") == []
    assert actions("action=member.warn") == ["member.warn"]
    assert actions(f"target={carol.handle}") == ["report.resolve", "member.warn", "report.assign"]
    assert actions(f"target={dan.handle}") == []
    assert actions(f"room={room.pk}") == ["report.dismiss", "report.resolve", "report.assign"]
    today = timezone.localdate()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    assert len(actions(f"since={today}&until={today}")) == 4
    assert actions(f"until={yesterday}") == []
    assert actions(f"since={tomorrow}") == []
    assert actions(f"actor={mod.handle}&action=report.assign&room={room.pk}") == ["report.assign"]
    bad = client.get("/moderation/audit/?since=last-week")
    assert len(_entries(bad)) == 4
    assert "“last-week” isn't a date (use YYYY-MM-DD)." in [str(m) for m in bad.context["messages"]]
