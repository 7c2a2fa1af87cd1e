"""Create a small demo community. Safe to run again: it only adds what is missing."""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Follow, Industry, Member
from accounts.services import member_sync_verified_domain
from events.models import RSVP, Event, EventSpeaker, Visibility
from groups.models import Group, Membership
from rooms.models import Room
from rooms.recordings.demo import seed_recorded_room
from rooms.services import room_create, room_start

DEMO_PASSWORD = "podium-demo"  # noqa: S105 - printed for the local demo on purpose

PEOPLE = [
    # email, name, headline, company, industry, location, zone
    (
        "alice@acme.dev",
        "Alice Moreau",
        "Principal engineer, data platform",
        "Acme",
        Industry.SOFTWARE,
        "Paris",
        "Europe/Paris",
    ),
    (
        "bob@globex.io",
        "Bob Okafor",
        "Head of SRE",
        "Globex",
        Industry.SOFTWARE,
        "Lagos",
        "Africa/Lagos",
    ),
    (
        "carol@initech.com",
        "Carol Nguyen",
        "Product manager, developer tools",
        "Initech",
        Industry.SOFTWARE,
        "Seattle",
        "America/Los_Angeles",
    ),
    (
        "dan@gmail.com",
        "Dan Silva",
        "Data engineer",
        "Umbrella Health",
        Industry.HEALTHCARE,
        "Lisbon",
        "Europe/Lisbon",
    ),
    (
        "erin@hooli.com",
        "Erin Patel",
        "Engineering manager",
        "Hooli",
        Industry.SOFTWARE,
        "Bengaluru",
        "Asia/Kolkata",
    ),
    (
        "frank@acme.dev",
        "Frank Weber",
        "Analytics engineer",
        "Acme",
        Industry.SOFTWARE,
        "Berlin",
        "Europe/Berlin",
    ),
    (
        "mod@podium.test",
        "Maya Rossi",
        "Trust & safety",
        "Podium",
        Industry.OTHER,
        "Milan",
        "Europe/Rome",
    ),
]
STAFF = ("admin@podium.test", "Podium Admin")


class Command(BaseCommand):
    help = "Seed a demo community (members, groups, events, rooms). Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="Where Podium will be served, for the sign-in line (make run passes HOST/PORT).",
        )

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        people = {}
        for email, name, headline, company, industry, location, zone in PEOPLE:
            member = Member.objects.filter(email=email).first()
            if member is None:
                member = Member.objects.create_user(
                    email,
                    DEMO_PASSWORD,
                    display_name=name,
                    headline=headline,
                    company=company,
                    industry=industry,
                    location=location,
                    timezone=zone,
                )
                EmailAddress.objects.create(user=member, email=email, verified=True, primary=True)
                member_sync_verified_domain(member=member)
            people[email.partition("@")[0]] = member
        admin = Member.objects.filter(email=STAFF[0]).first()
        if admin is None:
            admin = Member.objects.create_superuser(
                STAFF[0], DEMO_PASSWORD, display_name=STAFF[1], headline="Runs Podium"
            )
            EmailAddress.objects.create(user=admin, email=STAFF[0], verified=True, primary=True)
        people["mod"].user_permissions.add(
            Permission.objects.get(codename="moderate_platform", content_type__app_label="rooms")
        )
        alice, bob, carol, dan, erin, frank = (
            people[k] for k in ("alice", "bob", "carol", "dan", "erin", "frank")
        )
        for follower, followee in [
            (bob, alice),
            (carol, alice),
            (dan, alice),
            (alice, bob),
            (erin, bob),
            (frank, alice),
            (carol, erin),
        ]:
            Follow.objects.get_or_create(follower=follower, followee=followee)

        data_eng = self._group(
            "data-engineering",
            "Data Engineering",
            "Pipelines, warehouses and the people who keep them running.",
            False,
            alice,
            [bob, dan, frank, carol],
        )
        founders = self._group(
            "founders-circle",
            "Founders Circle",
            "A private room for founders to compare notes.",
            True,
            erin,
            [carol],
        )

        now = timezone.now().replace(second=0, microsecond=0)
        self._event(
            "Postgres at scale: lessons from 10k QPS",
            alice,
            data_eng,
            Visibility.PUBLIC,
            now + timedelta(days=1, hours=2),
            "Europe/Paris",
            [bob, carol, dan],
            speakers=[bob],
            cohosts=[frank],
        )
        self._event(
            "On-call without burnout",
            bob,
            None,
            Visibility.PUBLIC,
            now + timedelta(days=3),
            "Africa/Lagos",
            [alice, erin],
            speakers=[erin],
        )
        self._event(
            "Fundraising in 2027",
            erin,
            founders,
            Visibility.GROUP,
            now + timedelta(days=5),
            "Asia/Kolkata",
            [carol],
            speakers=[carol],
        )

        if not Room.objects.filter(title="Office hours: data contracts", host=alice).exists():
            room = room_create(
                host=alice,
                title="Office hours: data contracts",
                description="Bring your schema-evolution horror stories.",
                speakers=[bob],
                group=data_eng,
            )
            room_start(actor=alice, room=room)
        if not Room.objects.filter(title="Hiring your first SRE", host=bob).exists():
            room_create(
                host=bob,
                title="Hiring your first SRE",
                description="What to look for and what to pay.",
                speakers=[erin],
            )
        # An ended room of Alice's with its replay and transcript (needs espeak-ng).
        seed_recorded_room(host=alice, speaker=bob, group=data_eng, stdout=self.stdout)

        base = options["url"].rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"Demo ready. Sign in at {base}/accounts/login/"))
        self.stdout.write(f"  password for every demo login: {DEMO_PASSWORD}")
        for email, name, *_ in PEOPLE:
            self.stdout.write(f"  {email:<20} {name}")
        self.stdout.write(f"  {STAFF[0]:<20} staff (Django admin at {base}/admin/)")
        self.stdout.write("  mod@podium.test is a platform moderator")

    def _group(self, slug, name, description, private, owner, members) -> Group:
        group, created = Group.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "is_private": private,
                "created_by": owner,
            },
        )
        if created:
            Membership.objects.create(group=group, member=owner, role=Membership.Role.OWNER)
            for member in members:
                Membership.objects.create(group=group, member=member)
        return group

    def _event(
        self, title, host, group, visibility, starts_at, zone, attendees, speakers=(), cohosts=()
    ) -> None:
        event = Event.objects.filter(title=title, host=host).first()
        if event is None:
            event = Event.objects.create(
                title=title,
                host=host,
                group=group,
                visibility=visibility,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(hours=1),
                timezone=zone,
                description=f"{title}. Bring questions; raise your hand to join the stage.",
            )
            RSVP.objects.bulk_create([RSVP(event=event, member=m) for m in attendees])
        # Speakers who have already said yes, so that the event page shows its stage. Added
        # to events seeded before speakers were, too.
        for role, members in (
            (EventSpeaker.Role.SPEAKER, speakers),
            (EventSpeaker.Role.COHOST, cohosts),
        ):
            for member in members:
                EventSpeaker.objects.get_or_create(
                    event=event,
                    member=member,
                    defaults={
                        "role": role,
                        "status": EventSpeaker.Status.ACCEPTED,
                        "responded_at": timezone.now(),
                    },
                )
