"""`manage.py send_event_reminders`: 24 hours and 15 minutes before, exactly once each.

The clock is the command's --now option; the event starts at START.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from events import reminders
from events.models import RSVP, Event
from tests.conftest import make_member

# 09:00 in Kolkata; 22:30 the evening before in New York.
START = datetime(2030, 3, 10, 3, 30, tzinfo=UTC)


@pytest.fixture
def event(alice) -> Event:
    return Event.objects.create(
        host=alice,
        title="Scaling Postgres",
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        timezone="Asia/Kolkata",
    )


@pytest.fixture
def rsvps(event, bob, carol, dan):
    bob.timezone = "America/New_York"
    bob.save()
    carol.timezone = "Asia/Kolkata"
    carol.save()
    return [
        RSVP.objects.create(event=event, member=bob, status=RSVP.Status.GOING),
        RSVP.objects.create(event=event, member=carol, status=RSVP.Status.INTERESTED),
    ]


def run(at: datetime) -> str:
    out = StringIO()
    call_command("send_event_reminders", "--now", at.isoformat(), stdout=out)
    return out.getvalue()


def sent(mailoutbox) -> list[tuple[str, str]]:
    """(recipient, subject) of each email so far, in order."""
    return [(m.to[0], m.subject) for m in mailoutbox]


def test_it_reminds_everyone_who_rsvpd_24_hours_before(rsvps, mailoutbox):
    output = run(START - timedelta(hours=24))

    assert sorted(sent(mailoutbox)) == [
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 24 hours"),
        ("carol@initech.com", "Reminder: “Scaling Postgres” starts in 24 hours"),
    ]
    assert "Sent the 24-hour reminder for “Scaling Postgres”" in output
    assert "to bob@globex.io" in output
    assert "2 reminders sent." in output


def test_it_gives_each_recipient_the_time_in_their_own_zone(event, rsvps, mailoutbox):
    run(START - timedelta(minutes=15))

    bodies = {m.to[0]: m.body for m in mailoutbox}
    assert "Saturday 9 March 2030, 22:30 EST (America/New_York)" in bodies["bob@globex.io"]
    assert "Sunday 10 March 2030, 09:00 IST (Asia/Kolkata)" in bodies["carol@initech.com"]
    for body in bodies.values():
        assert f"http://127.0.0.1:8000/events/{event.pk}/" in body
        assert "hosted by Alice Moreau, starts in 15 minutes" in body
    assert "You're getting this because you said Going" in bodies["bob@globex.io"]
    assert "You're getting this because you said Interested" in bodies["carol@initech.com"]


def test_it_sends_nothing_more_than_a_day_ahead(rsvps, mailoutbox):
    output = run(START - timedelta(hours=24, minutes=1))

    assert mailoutbox == []
    assert "0 reminders sent." in output


def test_each_reminder_goes_once_however_often_it_runs(rsvps, mailoutbox):
    for at in [
        START - timedelta(hours=24),
        START - timedelta(hours=24),
        START - timedelta(hours=23, minutes=55),
        START - timedelta(hours=2),
        START - timedelta(minutes=15),
        START - timedelta(minutes=15),
        START - timedelta(minutes=5),
        START + timedelta(minutes=5),
    ]:
        run(at)

    assert sorted(sent(mailoutbox)) == [
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 15 minutes"),
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 24 hours"),
        ("carol@initech.com", "Reminder: “Scaling Postgres” starts in 15 minutes"),
        ("carol@initech.com", "Reminder: “Scaling Postgres” starts in 24 hours"),
    ]
    bob_rsvp = rsvps[0]
    bob_rsvp.refresh_from_db()
    assert bob_rsvp.reminded_24h_at == START - timedelta(hours=24)
    assert bob_rsvp.reminded_15m_at == START - timedelta(minutes=15)


def test_a_late_run_still_sends_the_day_before_reminder(rsvps, mailoutbox):
    # The scheduler was down for most of the day: at 3 hours before, the 24-hour reminder is
    # still worth sending, and says how long is really left.
    run(START - timedelta(hours=3))
    run(START - timedelta(minutes=12))

    assert sent(mailoutbox)[::2] == [
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 3 hours"),
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 12 minutes"),
    ]
    assert len(mailoutbox) == 4


def test_a_run_once_the_short_reminder_is_due_sends_only_that_one(rsvps, mailoutbox):
    run(START - timedelta(minutes=10))
    run(START - timedelta(minutes=5))

    assert sorted(sent(mailoutbox)) == [
        ("bob@globex.io", "Reminder: “Scaling Postgres” starts in 10 minutes"),
        ("carol@initech.com", "Reminder: “Scaling Postgres” starts in 10 minutes"),
    ]


def test_a_run_after_the_start_sends_nothing_stale(rsvps, mailoutbox):
    run(START - timedelta(hours=24))
    mailoutbox.clear()

    output = run(START + timedelta(minutes=1))

    assert mailoutbox == []
    assert "0 reminders sent." in output
    assert all(r.reminded_15m_at is None for r in RSVP.objects.all())


def test_two_runs_at_once_send_each_reminder_once(rsvps, mailoutbox, monkeypatch):
    # The second run starts while the first is sending its first email: each RSVP row is
    # claimed by exactly one of them.
    real_send_mail = reminders.send_mail
    rival: list[reminders.Reminder] = []
    rival_started = False

    def send_mail_with_a_rival(*args, **kwargs):
        nonlocal rival_started
        if not rival_started:
            rival_started = True
            rival.extend(reminders.event_reminders_send(now=START - timedelta(hours=24)))
        return real_send_mail(*args, **kwargs)

    monkeypatch.setattr(reminders, "send_mail", send_mail_with_a_rival)

    first = reminders.event_reminders_send(now=START - timedelta(hours=24))

    # Both runs loaded both RSVPs before either was reminded; each sent one.
    assert [r.rsvp.member.email for r in first] == ["bob@globex.io"]
    assert [r.rsvp.member.email for r in rival] == ["carol@initech.com"]
    assert sorted(m.to[0] for m in mailoutbox) == ["bob@globex.io", "carol@initech.com"]


def test_a_failed_send_is_retried_by_the_next_run(rsvps, mailoutbox, monkeypatch):
    real_send_mail = reminders.send_mail

    def refuse_bob(subject, body, sender, recipients):
        if recipients == ["bob@globex.io"]:
            raise ConnectionRefusedError("mail server down")
        return real_send_mail(subject, body, sender, recipients)

    monkeypatch.setattr(reminders, "send_mail", refuse_bob)
    first = run(START - timedelta(hours=24))
    monkeypatch.setattr(reminders, "send_mail", real_send_mail)
    second = run(START - timedelta(hours=23, minutes=55))

    assert "1 reminder sent." in first
    assert "to bob@globex.io" in second
    assert "1 reminder sent." in second
    assert sorted(m.to[0] for m in mailoutbox) == ["bob@globex.io", "carol@initech.com"]


@pytest.mark.parametrize("status", [Event.Status.LIVE, Event.Status.ENDED, Event.Status.CANCELLED])
def test_it_reminds_nobody_about_an_event_that_is_not_scheduled(event, rsvps, mailoutbox, status):
    Event.objects.filter(pk=event.pk).update(status=status)

    run(START - timedelta(minutes=15))

    assert mailoutbox == []


def test_it_skips_deactivated_members_and_people_who_did_not_rsvp(event, rsvps, mailoutbox):
    make_member("Erin Patel")  # no RSVP
    rsvps[1].member.is_active = False
    rsvps[1].member.save()

    run(START - timedelta(hours=24))

    assert [m.to[0] for m in mailoutbox] == ["bob@globex.io"]


def test_it_handles_many_events_and_time_zones(alice, mailoutbox):
    # Two events, ten minutes apart: the 15-minute window catches exactly one of them.
    first = Event.objects.create(
        host=alice, title="First", starts_at=START, ends_at=START + timedelta(hours=1)
    )
    second = Event.objects.create(
        host=alice,
        title="Second",
        starts_at=START + timedelta(minutes=20),
        ends_at=START + timedelta(hours=1),
    )
    member = make_member("Frank Weber", timezone="Europe/Berlin")
    RSVP.objects.create(event=first, member=member)
    RSVP.objects.create(event=second, member=member)

    run(START - timedelta(minutes=10))

    assert sorted(sent(mailoutbox)) == [
        (member.email, "Reminder: “First” starts in 10 minutes"),
        (member.email, "Reminder: “Second” starts in 30 minutes"),
    ]
    assert (
        "Sunday 10 March 2030, 04:30 CET (Europe/Berlin)" in mailoutbox[0].body + mailoutbox[1].body
    )


@pytest.mark.parametrize("value", ["tomorrow", "2030-03-10T03:30"])
def test_it_refuses_a_bad_now(db, value):
    with pytest.raises(CommandError):
        call_command("send_event_reminders", "--now", value, stdout=StringIO())
