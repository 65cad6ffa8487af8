#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["score_predictions"]:
        # Django-free scoring: loading every app would be most of its run time.
        from evaluation.management.commands.score_predictions import (
            run_without_setup,
        )

        run_without_setup(sys.argv)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
