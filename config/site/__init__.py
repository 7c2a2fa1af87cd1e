"""The site's own pages, the ones that compose several apps: home, search, a member's profile.

This layer sits above the apps: it imports accounts, groups, events and rooms, and no app
imports it. Discovery ranking lives here too (ranking.py), since it is what composes rooms and
events with the member's follows, colleagues and groups.
"""
