"""Following and blocking: /in/<handle>/follow/, unfollow/, block/ and unblock/."""

import pytest

from accounts.models import Block, Follow


def _post(client, member, action: str):
    response = client.post(f"/in/{member.handle}/{action}/", follow=True)
    assert response.redirect_chain == [(f"/in/{member.handle}/", 302)]
    return response.content.decode()


def _follows(a, b) -> bool:
    return Follow.objects.filter(follower=a, followee=b).exists()


@pytest.mark.parametrize("action", ["follow", "unfollow", "block", "unblock"])
def test_it_refuses_get(client, alice, bob, action):
    client.force_login(bob)

    response = client.get(f"/in/{alice.handle}/{action}/")

    assert response.status_code == 405
    assert not Follow.objects.exists()
    assert not Block.objects.exists()


@pytest.mark.parametrize("action", ["follow", "unfollow", "block", "unblock"])
def test_it_sends_visitors_to_sign_in(client, alice, action):
    response = client.post(f"/in/{alice.handle}/{action}/")

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/in/{alice.handle}/{action}/"
    assert not Follow.objects.exists()
    assert not Block.objects.exists()


@pytest.mark.parametrize("action", ["follow", "block"])
def test_it_is_404_for_an_unknown_handle(client, bob, action):
    client.force_login(bob)

    assert client.post(f"/in/nobody-here/{action}/").status_code == 404


def test_it_follows(client, alice, bob):
    client.force_login(bob)

    page = _post(client, alice, "follow")

    assert _follows(bob, alice)
    assert "You&#x27;re following Alice Moreau." in page
    assert "<strong>1</strong> follower" in page


def test_it_follows_once_however_often_asked(client, alice, bob):
    client.force_login(bob)

    _post(client, alice, "follow")
    _post(client, alice, "follow")

    assert Follow.objects.filter(follower=bob, followee=alice).count() == 1


def test_it_unfollows(client, alice, bob):
    Follow.objects.create(follower=bob, followee=alice)
    Follow.objects.create(follower=alice, followee=bob)
    client.force_login(bob)

    page = _post(client, alice, "unfollow")

    assert not _follows(bob, alice)
    assert _follows(alice, bob)
    assert "You unfollowed Alice Moreau." in page


def test_it_refuses_to_follow_yourself(client, alice):
    client.force_login(alice)

    page = _post(client, alice, "follow")

    assert not Follow.objects.exists()
    assert "You can&#x27;t follow yourself." in page
    assert "alert-error" in page


def test_it_refuses_to_block_yourself(client, alice):
    client.force_login(alice)

    page = _post(client, alice, "block")

    assert not Block.objects.exists()
    assert "You can&#x27;t block yourself." in page


def test_it_blocks(client, alice, bob):
    client.force_login(alice)

    page = _post(client, bob, "block")

    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    assert "You blocked Bob Okafor." in page
    assert f'action="/in/{bob.handle}/unblock/"' in page


def test_blocking_ends_following_in_both_directions(client, alice, bob, carol):
    Follow.objects.create(follower=alice, followee=bob)
    Follow.objects.create(follower=bob, followee=alice)
    Follow.objects.create(follower=carol, followee=alice)
    client.force_login(alice)

    _post(client, bob, "block")

    assert not _follows(alice, bob)
    assert not _follows(bob, alice)
    assert _follows(carol, alice)


def test_a_blocked_member_cannot_follow_the_blocker(client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)
    client.force_login(bob)

    page = _post(client, alice, "follow")

    assert not _follows(bob, alice)
    assert "You can&#x27;t follow this member." in page
    assert "alert-error" in page


def test_a_blocker_cannot_follow_the_member_they_blocked(client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)
    client.force_login(alice)

    _post(client, bob, "follow")

    assert not _follows(alice, bob)


def test_it_unblocks_and_following_is_possible_again(client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)
    client.force_login(alice)

    page = _post(client, bob, "unblock")

    assert not Block.objects.exists()
    assert "You unblocked Bob Okafor." in page
    client.force_login(bob)
    _post(client, alice, "follow")
    assert _follows(bob, alice)


def test_unblocking_leaves_the_other_direction_alone(client, alice, bob):
    Block.objects.create(blocker=alice, blocked=bob)
    Block.objects.create(blocker=bob, blocked=alice)
    client.force_login(alice)

    _post(client, bob, "unblock")

    assert list(Block.objects.values_list("blocker", "blocked")) == [(bob.pk, alice.pk)]
