from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Members"

    def ready(self) -> None:
        from allauth.account import signals
        from allauth.socialaccount import signals as social_signals

        from accounts import receivers

        # Any of these can change which verified work address a member has. A LinkedIn
        # sign-up arrives with its address already verified (user_signed_up).
        for signal in (
            signals.email_confirmed,
            signals.email_removed,
            signals.email_changed,
            signals.user_signed_up,
            social_signals.social_account_added,
        ):
            signal.connect(receivers.sync_verified_domain, dispatch_uid=f"podium-{id(signal)}")
