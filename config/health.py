"""/healthz: what a load balancer asks each node. 503 while the node drains (SIGTERM), so
no new socket is sent to it; 200 otherwise."""

from django.http import HttpRequest, HttpResponse

from rooms.cluster import agent as cluster


def healthz(request: HttpRequest) -> HttpResponse:
    if cluster.draining():
        response = HttpResponse("draining\n", status=503, content_type="text/plain")
        # Expected twice a second while draining: not an error for django.request's log.
        response._has_been_logged = True
        return response
    return HttpResponse("ok\n", content_type="text/plain")
