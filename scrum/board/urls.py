"""The API under /api/: sprints, tasks and users, with or without the trailing slash."""

from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.trailing_slash = "/?"  # both /api/tasks/ and /api/tasks
router.register("sprints", views.SprintViewSet)
router.register("tasks", views.TaskViewSet)
router.register("users", views.UserViewSet)

urlpatterns = router.urls
root_view = router.get_api_root_view()
