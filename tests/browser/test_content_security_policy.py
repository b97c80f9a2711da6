"""Every page of Enrich works under its own Content-Security-Policy: not one violation.

The policy is the one the server sends (no inline script, no inline style, no eval). Each
page is loaded — and its htmx parts exercised — in Chromium, which reports every refused
script, style or request as a ``securitypolicyviolation`` event and a console error.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long pass phrase"

#: Collects the violations a page reports, from before its first script runs.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
      `at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


@pytest.fixture
def watched(page):
    """The page, and a list that every CSP violation it reports (event or console) joins."""
    violations: list[str] = []
    page.context.add_init_script(LISTEN)
    page.on(
        "console",
        lambda message: (
            violations.append(f"console: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page, violations


def visit(page, violations: list[str], url: str, settle_ms: int = 300) -> None:
    """Open ``url``, check the policy is enforced on it, and gather what it reported."""
    response = page.goto(url)
    assert response.status == 200, (url, response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
    page.wait_for_timeout(settle_ms)
    collect(page, violations, url)


def collect(page, violations: list[str], where: str) -> None:
    violations.extend(f"{where}: {v}" for v in page.evaluate("window.__cspViolations || []"))


def make_enriched_table(workspace, user):
    """A table with rows, an enrichment column that uses an account, and a run under way
    (so the grid shows and polls its progress bar)."""
    from accounts.connection_accounts import account_create
    from accounts.workspace_secrets import secret_create
    from enrich.columns import column_add
    from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
    from enrich.enrichment.models import CellResult, Run
    from enrich.rows import rows_insert
    from enrich.tables import table_create

    account = account_create(
        workspace=workspace,
        name="People API",
        auth_type="api_key",
        fields={"key": "X-API-Key", "value": "sk_live_csp_test_0123456789"},
    ).account
    secret_create(workspace=workspace, name="EXTRA", value="extra-value-123456", created_by=user)
    table = table_create(workspace=workspace, name="Leads", created_by=user)
    column_add(table=table, label="Email", kind="text")
    column_add(table=table, label="Website", kind="url")
    rows_insert(
        table=table,
        rows=[
            {"email": f"lead{n}@example.test", "website": f"https://example.test/{n}"}
            for n in range(4)
        ],
        start_position=0,
    )
    enrichment = enrichment_column_create(
        table=table,
        label="Profile",
        spec=EnrichmentSpec(
            request={"endpoint": "https://api.example.test/people?email={{ row.email }}"},
            account=account,
        ),
    )
    run = Run.objects.create(column=enrichment, status=Run.Status.RUNNING, total=4)
    rows = list(table.rows.order_by("position"))
    statuses = [CellResult.Status.DONE, CellResult.Status.DONE, CellResult.Status.ERROR]
    for row, status in zip(rows, statuses, strict=False):
        CellResult.objects.create(
            row=row,
            column=enrichment,
            run=run,
            status=status,
            value={"name": "Ada"} if status == CellResult.Status.DONE else None,
            error="The API answered 404." if status == CellResult.Status.ERROR else "",
        )
    return table, enrichment, account, rows


def test_no_page_violates_the_content_security_policy(watched, make_user, make_workspace) -> None:
    page, violations = watched

    # Signed out: the first visitor's sign-up, then the sign-in page.
    visit(page, violations, "/signup/")
    user = make_user("ada", password=PASSWORD)
    workspace = make_workspace("Growth", owner=user)
    other = make_workspace("Partners", owner=make_user("owner2"))
    from accounts.models import Invitation

    Invitation.objects.create(
        workspace=other, invited_as="ada", invited_by=other.memberships.get().user
    )
    visit(page, violations, "/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    collect(page, violations, "after sign-in")

    table, enrichment, account, _rows = make_enriched_table(workspace, user)
    visit(page, violations, "/")
    visit(page, violations, "/tables/new/")
    visit(page, violations, "/tables/import/")

    # The grid with an enrichment column: its progress bar polls, widths set from data-width.
    visit(page, violations, f"/tables/{table.pk}/", settle_ms=2500)
    done = page.locator(f"#progress-{enrichment.pk} .run-progress__done")
    assert done.get_attribute("data-width") == "50"
    assert done.evaluate("el => el.style.width") == "50%"
    # A cell's details open in the side panel (htmx).
    page.locator(f"#grid td[data-column='{enrichment.pk}']").first.click()
    page.wait_for_timeout(800)
    collect(page, violations, "cell panel")

    # The enrichment panel, on its own page and for a new column.
    visit(page, violations, f"/enrichment/{enrichment.pk}/")
    visit(page, violations, f"/tables/{table.pk}/enrichment/new/")

    # Accounts pages.
    for url in (
        "/members/",
        "/workspaces/",
        "/workspaces/new/",
        "/settings/connections/",
        "/settings/connections/new/",
        f"/settings/connections/{account.pk}/",
        "/settings/secrets/",
    ):
        visit(page, violations, url)

    # htmx's request indicator shows from the stylesheet, not an injected <style>.
    page.goto(f"/settings/connections/{account.pk}/")
    assert page.evaluate("document.querySelectorAll('head style').length") == 0
    indicator = page.locator(".htmx-indicator").first
    if indicator.count():
        assert indicator.evaluate("el => getComputedStyle(el).opacity") == "0"
    collect(page, violations, "account page")

    assert not violations, "\n".join(violations)


def test_the_admin_site_works_under_the_policy(watched, django_user_model) -> None:
    page, violations = watched
    admin = django_user_model.objects.create_superuser("root", "root@example.test", PASSWORD)
    visit(page, violations, "/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")
    for url in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{admin.pk}/change/"):
        visit(page, violations, url)
    assert not violations, "\n".join(violations)


def test_a_violation_would_be_seen(watched, make_user) -> None:
    """The watcher itself: an inline style slipped into a page is reported."""
    page, violations = watched
    make_user()
    visit(page, violations, "/login/")
    page.evaluate(
        """document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>')"""
    )
    page.wait_for_timeout(300)
    collect(page, violations, "injected")
    assert any("style-src" in violation for violation in violations), violations
