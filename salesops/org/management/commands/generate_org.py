"""``manage.py generate_org --scale demo|large [--seed N]``: build a deterministic organisation."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from salesops.errors import DomainError
from salesops.org.generate import DEMO_LOGINS, DEMO_PASSWORD, SCALES, generate_org, org_is_empty


class Command(BaseCommand):
    help = "Generate a sales organisation (teams, managers, reps, staff, rates) with COPY."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--as-of",
            type=dt.date.fromisoformat,
            default=None,
            help="Date the data is generated around (default: today). Same seed + date, same rows.",
        )
        parser.add_argument("--replace", action="store_true", help="Wipe the existing org first.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when an organisation already exists (used by `make run`).",
        )

    def handle(self, *args, scale, seed, as_of, replace, if_empty, **options):
        if if_empty and not org_is_empty():
            self.stdout.write("Organisation already loaded; leaving it as it is.")
            return
        try:
            result = generate_org(scale=SCALES[scale], seed=seed, as_of=as_of, replace=replace)
        except DomainError as error:
            raise CommandError(str(error)) from None
        per_second = result.total_rows / result.seconds if result.seconds else 0
        detail = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in result.rows.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated the {scale} organisation (seed {seed}, as of {result.as_of}): {detail} "
                f"in {result.seconds:.2f} s ({per_second:,.0f} rows/s)."
            )
        )
        logins = ", ".join(DEMO_LOGINS.values())
        self.stdout.write(f"Demo logins: {logins} — password '{DEMO_PASSWORD}'.")
