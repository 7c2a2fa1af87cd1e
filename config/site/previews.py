"""What a shared link shows before anyone clicks it: the OpenGraph and Twitter-card text of
room, event, group and profile pages (templates/includes/og.html). Each returns None for
what a signed-out visitor may not read (a group-only room or event, anything of a private
group), and the page then carries the site's generic preview: a link pasted from inside a
private group says nothing of it to the crawler that fetches it."""

from zoneinfo import ZoneInfo

from django.utils.text import Truncator

WHEN = "%a %d %b %Y, %H:%M %Z"


def _short(text: str, length: int = 160) -> str:
    return Truncator(" ".join(text.split())).chars(length)


def _who(member) -> str:
    about = " · ".join(x for x in (member.headline, member.company) if x)
    return f"{member.display_name} ({about})" if about else member.display_name


def room(room) -> dict | None:
    if room.visibility != "public" or (room.group_id and room.group.is_private):
        return None
    status = {"live": "Live now", "scheduled": "Starting soon", "ended": "Ended"}.get(
        room.status, ""
    )
    parts = [f"{status} on Podium · hosted by {_who(room.host)}."]
    if room.description:
        parts.append(_short(room.description))
    return {"title": room.title, "description": " ".join(parts), "type": "website"}


def event(event) -> dict | None:
    if event.visibility != "public" or (event.group_id and event.group.is_private):
        return None
    starts = event.starts_at.astimezone(ZoneInfo(event.timezone)).strftime(WHEN)
    parts = [f"{starts} · hosted by {_who(event.host)}."]
    if event.description:
        parts.append(_short(event.description))
    return {"title": event.title, "description": " ".join(parts), "type": "website"}


def group(group) -> dict | None:
    if group.is_private:
        return None
    text = _short(group.description) if group.description else "A group on Podium."
    return {"title": group.name, "description": text, "type": "website"}


def profile(member) -> dict:
    about = " · ".join(x for x in (member.headline, member.company) if x)
    text = f"{about} — on Podium, live audio for professionals." if about else "On Podium."
    return {"title": member.display_name, "description": text, "type": "profile"}
