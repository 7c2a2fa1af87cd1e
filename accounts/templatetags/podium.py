"""Template helpers shared by every page: avatars, identity lines, form fields."""

from django import template
from django.forms import BoundField

register = template.Library()


@register.inclusion_tag("includes/avatar.html")
def avatar(member, size: str = "md"):
    return {"member": member, "size": size}


@register.inclusion_tag("includes/identity.html")
def identity(member, link: bool = True):
    return {"member": member, "link": link}


@register.inclusion_tag("includes/field.html")
def field(bound: BoundField):
    return {"field": bound}
