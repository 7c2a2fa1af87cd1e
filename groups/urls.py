from django.urls import path

from groups import views

urlpatterns = [
    path("", views.group_list, name="group_list"),
    path("new/", views.group_create, name="group_create"),
    path("<slug:slug>/join/", views.group_join, name="group_join"),
    path("<slug:slug>/leave/", views.group_leave, name="group_leave"),
    path(
        "<slug:slug>/requests/<int:membership_id>/",
        views.membership_decide,
        name="membership_decide",
    ),
    path(
        "<slug:slug>/members/<int:membership_id>/promote/",
        views.membership_promote,
        name="membership_promote",
    ),
    path(
        "<slug:slug>/members/<int:membership_id>/demote/",
        views.membership_demote,
        name="membership_demote",
    ),
]
