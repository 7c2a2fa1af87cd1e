from django.urls import path

from rooms import views

urlpatterns = [
    path("", views.room_list, name="room_list"),
    path("new/", views.room_create, name="room_create"),
    path("<int:room_id>/", views.room_detail, name="room_detail"),
    path("<int:room_id>/start/", views.room_start, name="room_start"),
    path("<int:room_id>/audience/", views.room_audience, name="room_audience"),
    path("<int:room_id>/status/", views.room_status, name="room_status"),
    path("<int:room_id>/replay/audio/", views.replay_audio, name="replay_audio"),
    path("<int:room_id>/replay/status/", views.replay_status, name="replay_status"),
    path("<int:room_id>/replay/delete/", views.replay_delete, name="replay_delete"),
]
