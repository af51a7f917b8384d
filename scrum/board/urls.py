"""The API under /api/: sprints, tasks and users, with or without the trailing slash."""

from rest_framework.permissions import AllowAny
from rest_framework.routers import APIRootView, DefaultRouter

from . import views


class PublicAPIRootView(APIRootView):
    """The root answers without credentials (the board discovers the API before login)."""

    permission_classes = (AllowAny,)


class Router(DefaultRouter):
    APIRootView = PublicAPIRootView


router = Router()
router.trailing_slash = "/?"  # both /api/tasks/ and /api/tasks
router.register("sprints", views.SprintViewSet)
router.register("tasks", views.TaskViewSet)
router.register("users", views.UserViewSet)

urlpatterns = router.urls
root_view = router.get_api_root_view()
