"""Free-mail providers: an address there says nothing about where someone works."""

FREE_MAIL_DOMAINS = frozenset(
    [
        "aol.com",
        "att.net",
        "bigpond.com",
        "btinternet.com",
        "comcast.net",
        "cox.net",
        "earthlink.net",
        "email.com",
        "fastmail.com",
        "fastmail.fm",
        "free.fr",
        "freenet.de",
        "gmail.com",
        "googlemail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "hey.com",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.de",
        "hotmail.fr",
        "icloud.com",
        "inbox.com",
        "laposte.net",
        "libero.it",
        "live.com",
        "live.co.uk",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "naver.com",
        "orange.fr",
        "outlook.com",
        "outlook.de",
        "pm.me",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "rambler.ru",
        "rediffmail.com",
        "rocketmail.com",
        "sbcglobal.net",
        "seznam.cz",
        "shaw.ca",
        "sky.com",
        "t-online.de",
        "tutanota.com",
        "tuta.io",
        "verizon.net",
        "wanadoo.fr",
        "web.de",
        "yahoo.co.in",
        "yahoo.co.jp",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.de",
        "yahoo.fr",
        "yandex.com",
        "yandex.ru",
        "ymail.com",
        "zoho.com",
        "163.com",
        "126.com",
    ]
)


def email_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def is_work_domain(domain: str) -> bool:
    """A domain that can vouch for an employer: not free mail, and a real dotted name."""
    domain = domain.lower()
    return bool(domain) and "." in domain and domain not in FREE_MAIL_DOMAINS
