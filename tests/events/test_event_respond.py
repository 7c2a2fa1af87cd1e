"""Answering an invitation to speak or co-host: POST /events/<id>/respond/."""

import pytest

from events.models import Event, EventSpeaker, Visibility
from tests.conftest import make_event, make_group
from tests.events.helpers import accepted, invite


@pytest.fixture
def event(alice) -> Event:
    return make_event(alice, title="Scaling Postgres")


def _answer(client, event, answer):
    return client.post(f"/events/{event.pk}/respond/", {"answer": answer}, follow=True)


def test_it_shows_the_invited_member_a_banner(client, event, bob, carol, section):
    invite(event, bob)

    client.force_login(bob)
    as_bob = client.get(f"/events/{event.pk}/").content.decode()
    client.force_login(carol)
    as_carol = client.get(f"/events/{event.pk}/").content.decode()

    assert "<strong>Alice Moreau</strong> invited you to speak at this event." in as_bob
    assert 'name="answer" value="accept">Accept</button>' in as_bob
    assert 'name="answer" value="decline">Decline</button>' in as_bob
    assert "invited you" not in as_carol
    assert 'name="answer"' not in as_carol


def test_it_asks_a_co_host_to_co_host(client, event, bob):
    invite(event, bob, role=EventSpeaker.Role.COHOST)
    client.force_login(bob)

    page = client.get(f"/events/{event.pk}/").content.decode()

    assert "invited you to co-host this event." in page


def test_accepting_puts_the_member_on_the_events_stage(client, event, bob, flashes, section):
    invitation = invite(event, bob)
    client.force_login(bob)

    response = _answer(client, event, "accept")

    invitation.refresh_from_db()
    assert invitation.status == EventSpeaker.Status.ACCEPTED
    assert invitation.responded_at is not None
    assert response.redirect_chain == [(f"/events/{event.pk}/", 302)]
    assert ("success", "You're on the stage as Speaker.") in flashes(response)
    assert "Bob Okafor" in section(response, "speakers-heading")
    assert "You're speaking at this event." in response.content.decode()


def test_declining_keeps_the_member_off_it(client, event, bob, carol, flashes, section):
    invite(event, bob, role=EventSpeaker.Role.COHOST)
    accepted(event, carol)
    client.force_login(bob)

    response = _answer(client, event, "decline")

    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.DECLINED
    assert ("success", "Invitation declined.") in flashes(response)
    assert section(response, "cohosts-heading") == ""
    assert "Carol Nguyen" in section(response, "speakers-heading")
    assert "Bob Okafor" not in section(response, "speakers-heading")


def test_a_speaker_may_change_their_mind_before_it_goes_live(client, event, bob, section):
    invite(event, bob)
    client.force_login(bob)

    _answer(client, event, "accept")
    stepped_down = _answer(client, event, "decline")
    back = _answer(client, event, "accept")

    assert section(stepped_down, "speakers-heading") == ""
    assert "Bob Okafor" in section(back, "speakers-heading")
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.ACCEPTED


def test_only_the_invited_member_can_answer(client, event, bob, carol, flashes):
    invite(event, bob)
    client.force_login(carol)

    response = _answer(client, event, "accept")

    assert ("error", "Only the people the host invited can answer.") in flashes(response)
    assert not EventSpeaker.objects.filter(member=carol).exists()
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED


def test_the_host_cannot_answer_for_an_invitee(client, event, alice, bob, flashes):
    invite(event, bob)
    client.force_login(alice)

    response = _answer(client, event, "accept")

    assert ("error", "Only the people the host invited can answer.") in flashes(response)
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (Event.Status.LIVE, "This event is already live."),
        (Event.Status.ENDED, "This event is over."),
        (Event.Status.CANCELLED, "This event is over."),
    ],
)
def test_it_refuses_answers_once_the_event_has_started(
    client, event, bob, flashes, status, message
):
    invite(event, bob)
    Event.objects.filter(pk=event.pk).update(status=status)
    client.force_login(bob)

    response = _answer(client, event, "accept")

    assert ("error", message) in flashes(response)
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED
    assert "invited you to speak" not in response.content.decode()


@pytest.mark.parametrize("answer", ["", "yes", "ACCEPT"])
def test_it_rejects_an_unknown_answer(client, event, bob, flashes, answer):
    invite(event, bob)
    client.force_login(bob)

    response = _answer(client, event, answer)

    assert ("error", "Choose Accept or Decline.") in flashes(response)
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED


def test_it_requires_login_and_post(client, event, bob):
    invite(event, bob)

    anonymous = client.post(f"/events/{event.pk}/respond/", {"answer": "accept"})
    client.force_login(bob)
    get = client.get(f"/events/{event.pk}/respond/", {"answer": "accept"})

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert get.status_code == 405
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED


def test_it_404s_a_group_only_event_for_an_invitee_who_left_the_group(client, alice, bob):
    group = make_group(alice, "Security Council", private=True)
    event = make_event(alice, group=group, visibility=Visibility.GROUP)
    invite(event, bob)
    client.force_login(bob)

    response = client.post(f"/events/{event.pk}/respond/", {"answer": "accept"})

    assert response.status_code == 404
    assert EventSpeaker.objects.get(member=bob).status == EventSpeaker.Status.INVITED
