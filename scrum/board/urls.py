"""The API under /api/: sprints, tasks and users, with or without the trailing slash."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import APIRootView, DefaultRouter

from . import views
from .serializers import api_root


class RootView(APIRootView):
    """The root answers without credentials (the board discovers the API before login), and
    its links end in / like every other link of the API."""

    permission_classes = (AllowAny,)

    def get(self, request, *args, **kwargs):
        root = api_root(request)
        return Response({prefix: f"{root}{prefix}/" for prefix in self.api_root_dict})


router = DefaultRouter()
router.APIRootView = RootView
router.trailing_slash = "/?"  # both /api/tasks/ and /api/tasks
router.register("sprints", views.SprintViewSet)
router.register("tasks", views.TaskViewSet)
router.register("users", views.UserViewSet)

urlpatterns = router.urls
root_view = router.get_api_root_view()
