from django.urls import path

from rooms.moderation import views as dashboard

app_name = "moderation"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("reports/", dashboard.report_queue, name="reports"),
    path("reports/<int:report_id>/", dashboard.report_detail, name="report"),
    path("reports/<int:report_id>/assign/", dashboard.report_assign, name="report_assign"),
    path("reports/<int:report_id>/resolve/", dashboard.report_resolve, name="report_resolve"),
    path("reports/<int:report_id>/dismiss/", dashboard.report_dismiss, name="report_dismiss"),
    path("members/<slug:handle>/", dashboard.member_history, name="member"),
    path("members/<slug:handle>/warn/", dashboard.member_warn, name="member_warn"),
    path("members/<slug:handle>/suspend/", dashboard.member_suspend, name="member_suspend"),
    path("members/<slug:handle>/unsuspend/", dashboard.member_unsuspend, name="member_unsuspend"),
    path("audit/", dashboard.audit_log, name="audit"),
    path("rooms/<int:room_id>/end/", dashboard.room_end, name="room_end"),
    path(
        "rooms/<int:room_id>/members/<int:member_id>/remove/",
        dashboard.room_member_action,
        {"action": "remove"},
        name="room_remove",
    ),
    path(
        "rooms/<int:room_id>/members/<int:member_id>/ban/",
        dashboard.room_member_action,
        {"action": "ban"},
        name="room_ban",
    ),
    path("groups/<slug:slug>/ban/<int:member_id>/", dashboard.group_ban, name="group_ban"),
]
