"""/healthz: what a load balancer asks each node. 503 while the node drains (SIGTERM), so
no new socket is sent to it; 200 otherwise."""

from django.http import HttpRequest, HttpResponse

from rooms.cluster import agent as cluster


def healthz(request: HttpRequest) -> HttpResponse:
    if cluster.draining():
        return HttpResponse("draining\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
