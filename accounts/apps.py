from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members"

    def ready(self) -> None:
        from allauth.account import signals

        from accounts import receivers

        for signal in (signals.email_confirmed, signals.email_removed, signals.email_changed):
            signal.connect(receivers.sync_verified_domain, dispatch_uid=f"podium-{id(signal)}")
