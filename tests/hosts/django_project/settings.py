"""Settings of the Django project the host tests and docs/frameworks.md serve."""

SECRET_KEY = "django-test-key-not-used-for-tokens"  # Django's own; tokens never use it
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.hosts.django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
