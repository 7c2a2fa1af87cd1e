from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve

from config import health
from config.site import views as site_views
from rooms.moderation import views as moderation_views

# Staff sign in where everyone signs in: allauth's login page, with its guessing limits
# (ACCOUNT_RATE_LIMITS). The admin's own password form had none: 15 wrong passwords, then
# the right one, all went through. login_required sends a signed-out visitor there and
# back; a signed-in member who isn't staff gets the admin's "not authorised" page.
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    # The site's own pages, which compose several apps (config.site).
    path("", site_views.home, name="home"),
    path("search/", site_views.search, name="search"),
    path("in/<slug:handle>/", site_views.profile, name="profile"),
    path("members/suggest/", site_views.member_suggest, name="member_suggest"),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("img/podium.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("groups/", include("groups.urls")),
    # After the groups app's own pages, so that /groups/new/ stays theirs.
    path("groups/<slug:slug>/", site_views.group_detail, name="group_detail"),
    path("events/", include("events.urls")),
    path("rooms/", include("rooms.urls")),
    path("moderation/", include("rooms.moderation.urls")),
    path("report/", moderation_views.report_create, name="report"),
]

if settings.SERVE_FILES:
    # Avatars and covers. A front proxy serves MEDIA_ROOT in production.
    urlpatterns += [
        re_path(r"^uploads/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]
