"""Print where the app is and who can log in (used by `make run`)."""

from django.core.management.base import BaseCommand

from salesops.org.generate import DEMO_LOGINS, DEMO_PASSWORD
from salesops.org.models import User


class Command(BaseCommand):
    help = "Print the URL and the demo logins for each role."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://localhost:8000/")

    def handle(self, *args, url, **options):
        present = set(
            User.objects.filter(username__in=DEMO_LOGINS.values()).values_list(
                "username", flat=True
            )
        )
        lines = [
            "",
            f"  SalesOps is starting at {url}",
            "",
            f"  Demo logins (password '{DEMO_PASSWORD}'):",
        ]
        for role, username in DEMO_LOGINS.items():
            if username in present:
                lines.append(f"    {role.label:<18} {username}")
        lines += [
            "",
            "  API docs: " + url + "api/docs/   Health: " + url + "healthz",
            "  Press Ctrl-C to stop everything.",
            "",
        ]
        self.stdout.write("\n".join(lines))
