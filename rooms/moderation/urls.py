from django.urls import path

from rooms.moderation import actions
from rooms.moderation import views as dashboard

app_name = "moderation"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("reports/", dashboard.report_queue, name="reports"),
    path("reports/<int:report_id>/", dashboard.report_detail, name="report"),
    path("reports/<int:report_id>/assign/", actions.report_assign, name="report_assign"),
    path("reports/<int:report_id>/resolve/", actions.report_resolve, name="report_resolve"),
    path("reports/<int:report_id>/dismiss/", actions.report_dismiss, name="report_dismiss"),
    path("members/<slug:handle>/", dashboard.member_history, name="member"),
    path("members/<slug:handle>/warn/", actions.member_warn, name="member_warn"),
    path("members/<slug:handle>/suspend/", actions.member_suspend, name="member_suspend"),
    path("members/<slug:handle>/unsuspend/", actions.member_unsuspend, name="member_unsuspend"),
    path("audit/", dashboard.audit_log, name="audit"),
    path("rooms/<int:room_id>/end/", actions.room_end, name="room_end"),
    path(
        "rooms/<int:room_id>/members/<int:member_id>/remove/",
        actions.room_member_action,
        {"action": "remove"},
        name="room_remove",
    ),
    path(
        "rooms/<int:room_id>/members/<int:member_id>/ban/",
        actions.room_member_action,
        {"action": "ban"},
        name="room_ban",
    ),
    path("groups/<slug:slug>/ban/<int:member_id>/", actions.group_ban, name="group_ban"),
    path("groups/<slug:slug>/unban/<int:member_id>/", actions.group_unban, name="group_unban"),
]
