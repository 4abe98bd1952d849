"""A Django project of one app-less module, served through Django's ASGI handler behind the
middleware (``DJANGO_SETTINGS_MODULE=tests.hosts.django_project.settings``)."""
