"""The README documents every environment variable the settings read."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_environment_variable_is_in_the_readme() -> None:
    settings_source = (ROOT / "enrich" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r'ENV(?:\.get\(|, )"([A-Z_]+)"', settings_source))
    names |= set(re.findall(r'require\(\s*ENV, "([A-Z_]+)"', settings_source))

    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENRICH_ENCRYPTION_KEYS"} <= names
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"undocumented in README: {missing}"


def test_the_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert first_block.split()[:2] == ["make", "run"]
    assert "make test" in first_block


def test_the_buttons_the_readme_names_are_on_the_pages() -> None:
    """Words in bold in the README's walk-through are what the pages say (a menu path is
    written ``A → B``)."""
    readme = (ROOT / "README.md").read_text()
    templates = (
        "\n".join(path.read_text() for path in (ROOT / "templates").rglob("*.html"))
        + (ROOT / "enrich" / "enrichment" / "templatetags" / "enrichment.py").read_text()
    )
    walkthrough = readme.split("## Connections and secrets", 1)[1].split("## Production", 1)[0]
    named = [
        part for bold in re.findall(r"\*\*(.+?)\*\*", walkthrough) for part in bold.split(" → ")
    ]

    assert "Add account" in named
    missing = [name for name in named if name not in templates]
    assert not missing, f"the README names what no page shows: {missing}"
