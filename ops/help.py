"""Every ``ops`` command's ``--help``: a one-line summary, a wrapped description, examples."""

from __future__ import annotations

import argparse


class _Help(argparse.HelpFormatter):
    """Wraps the description like argparse does, but keeps the examples as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def command(
    sub: argparse._SubParsersAction,
    name: str,
    summary: str,
    examples: list[str],
    details: str = "",
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=f"{summary}. {details}".strip() if details else summary,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in examples),
        formatter_class=_Help,
    )
