from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    label = "podium_groups"
    verbose_name = "Groups"
