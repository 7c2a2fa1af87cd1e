from django.urls import path

from accounts import views

urlpatterns = [
    path("settings/profile/", views.profile_edit, name="profile_edit"),
    path("settings/notifications/", views.notification_settings, name="notification_settings"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path(
        "in/<slug:handle>/followers/",
        views.people,
        {"which": "followers"},
        name="profile_followers",
    ),
    path(
        "in/<slug:handle>/following/",
        views.people,
        {"which": "following"},
        name="profile_following",
    ),
    path("in/<slug:handle>/follow/", views.follow, name="follow"),
    path("in/<slug:handle>/unfollow/", views.unfollow, name="unfollow"),
    path("in/<slug:handle>/block/", views.block, name="block"),
    path("in/<slug:handle>/unblock/", views.unblock, name="unblock"),
]
