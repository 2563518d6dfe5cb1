#!/usr/bin/env python
"""Django's command-line utility for ICHweb."""

import sys


def main() -> None:
    from ichweb.startup import configure

    configure()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
