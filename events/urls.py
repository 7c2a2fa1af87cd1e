from django.urls import path

from events import views

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("new/", views.event_create, name="event_create"),
    path("feed/<str:token>.ics", views.event_feed, name="event_feed"),
    path("<int:event_id>/", views.event_detail, name="event_detail"),
    path("<int:event_id>/event.ics", views.event_ics, name="event_ics"),
    path("<int:event_id>/rsvp/", views.event_rsvp, name="event_rsvp"),
    path("<int:event_id>/respond/", views.event_respond, name="event_respond"),
    path("<int:event_id>/extend/", views.event_extend, name="event_extend"),
    path("<int:event_id>/go-live/", views.event_go_live, name="event_go_live"),
]
