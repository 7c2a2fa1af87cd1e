"""MembersField: people named by profile handle in a form ("ada-lovelace, grace-hopper")."""

import pytest
from django import forms
from django.core.exceptions import ValidationError

from accounts.forms import MembersField
from accounts.models import Member


class StageForm(forms.Form):
    speakers = MembersField(max_members=3)


def _clean(value: str):
    form = StageForm({"speakers": value})
    if not form.is_valid():
        raise ValidationError(form.errors["speakers"])
    return form.cleaned_data["speakers"]


def test_it_finds_members_in_the_order_given(alice, bob, carol):
    assert _clean("carol-nguyen, alice-moreau") == [carol, alice]


def test_it_accepts_pasted_forms_of_a_handle(alice, bob, carol):
    cleaned = _clean("@Alice-Moreau\n/in/bob-okafor/ ,, carol-nguyen,")

    assert cleaned == [alice, bob, carol]


def test_it_drops_repeats(alice, bob):
    assert _clean("bob-okafor, alice-moreau, @bob-okafor") == [bob, alice]


def test_it_is_empty_when_nothing_is_named(db):
    assert _clean("") == []
    assert _clean(" , ") == []


def test_it_names_the_handles_it_cannot_find(alice):
    with pytest.raises(ValidationError) as excinfo:
        _clean("alice-moreau, ada-lovelace, grace-hopper")

    assert excinfo.value.messages == ["No member with the handle: ada-lovelace, grace-hopper"]


def test_it_does_not_find_deactivated_members(alice):
    Member.objects.filter(pk=alice.pk).update(is_active=False)

    with pytest.raises(ValidationError, match="alice-moreau"):
        _clean("alice-moreau")


def test_it_limits_how_many_people_are_named(alice, bob, carol, dan):
    with pytest.raises(ValidationError) as excinfo:
        _clean("alice-moreau, bob-okafor, carol-nguyen, dan-silva")

    assert excinfo.value.messages == ["Name at most 3 people."]


def test_it_looks_handles_up_in_one_query(alice, bob, carol, django_assert_num_queries):
    with django_assert_num_queries(1):
        _clean("alice-moreau, bob-okafor, carol-nguyen")
