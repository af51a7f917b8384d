"""The API under /api/: sprints, tasks and users, with or without the trailing slash."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import APIRootView, DefaultRouter

from . import views
from .serializers import api_root


class RootView(APIRootView):
    """The root answers without credentials (a client discovers the API before it logs in), and
    its links end in / like every other link of the API."""

    permission_classes = (AllowAny,)

    def get(self, request, *args, **kwargs):
        return Response(api_links(api_root(request)))


def api_links(root):
    """Return the root's answer: each list's URL under ``root``, by name (sprints, tasks,
    users); ``root`` is the API's absolute URL, or its path for the board's own page."""
    return {prefix: f"{root}{prefix}/" for prefix, _, _ in router.registry}


router = DefaultRouter()
router.APIRootView = RootView
router.trailing_slash = "/?"  # both /api/tasks/ and /api/tasks
router.register("sprints", views.SprintViewSet)
router.register("tasks", views.TaskViewSet)
router.register("users", views.UserViewSet)

urlpatterns = router.urls
root_view = router.get_api_root_view()
