"""Formula columns: computed on the server as rows arrive and change, stored in the row,
typed, with an error per cell; checked when saved (syntax, functions, columns, secrets,
cycles)."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from enrich.csv_import import import_set_mapping, import_start, import_upload
from enrich.enrichment.columns import (
    EnrichmentProblems,
    EnrichmentSpec,
    enrichment_column_create,
    enrichment_column_update,
)
from enrich.enrichment.models import CellResult, Run
from enrich.models import Row
from enrich.rows import row_add, row_set_value, rows_insert
from tests.enrich.conftest import csv_upload

pytestmark = pytest.mark.django_db


def add_formula(table, label, expression, output="auto"):
    spec = EnrichmentSpec(kind="formula", config={"expression": expression, "output": output})
    return enrichment_column_create(table=table, label=label, spec=spec)


def values(table, key):
    return [row.values.get(key) for row in Row.objects.filter(table=table).order_by("position")]


def errors(enrichment):
    return {
        cell.row.position: cell.error
        for cell in CellResult.objects.filter(column=enrichment).select_related("row")
    }


@pytest.fixture
def people(workspace, make_table):
    return make_table(
        workspace,
        columns=("Name", "Email", ("Employees", "number")),
        rows=[
            {"name": "  Ada Lovelace ", "email": "ada@WWW.Analytical.example", "employees": 12},
            {"name": "Grace", "email": "", "employees": 0},
            {"name": "名前", "email": "mei@例え.jp", "employees": 3400},
        ],
    )


def test_a_formula_is_computed_over_the_table_when_saved(people) -> None:
    domain = add_formula(people, "Domain", "domain(row.email)")
    assert domain.column.kind == "formula"
    assert values(people, domain.column.key) == ["analytical.example", None, "例え.jp"]

    size = add_formula(people, "Size", '"big" if row.employees > 100 else "small"')
    assert values(people, size.column.key) == ["small", "small", "big"]


def test_an_error_is_kept_per_cell_and_cleared_by_a_later_success(people) -> None:
    ratio = add_formula(people, "Per head", "round(1000 / row.employees, 1)", output="number")
    assert values(people, ratio.column.key) == [83.3, None, 0.3]
    assert errors(ratio) == {1: "Divide by zero."}

    grace = Row.objects.get(table=people, position=1)
    row_set_value(row=grace, column=people.columns.get(key="employees"), raw="4")
    assert values(people, ratio.column.key) == [83.3, 250, 0.3]
    assert errors(ratio) == {}


def test_typed_outputs_convert_or_say_why(people) -> None:
    number = add_formula(people, "Digits", 'regex_extract(row.email, "\\\\d+")', output="number")
    assert values(people, number.column.key) == [None, None, None]
    text = add_formula(people, "Count as text", "row.employees", output="text")
    assert values(people, text.column.key) == ["12", "0", "3400"]
    flag = add_formula(people, "Has email", "not is_empty(row.email)", output="boolean")
    assert values(people, flag.column.key) == [True, False, True]
    bad = add_formula(people, "As number", "row.name", output="number")
    assert values(people, bad.column.key) == [None, None, None]
    assert errors(bad)[0] == "The result “  Ada Lovelace ” is not a number."


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("lowr(row.name)", "There is no function lowr(), did you mean lower()?"),
        ("lower(row.nickname)", "row.nickname, which this table has no column for"),
        ("get_secret('KEY')", "A formula cannot use get_secret()"),
        ("row.name +", "Template syntax error"),
        ("", "Write the formula"),
    ],
)
def test_mistakes_are_refused_when_the_formula_is_saved(people, expression, message) -> None:
    with pytest.raises(EnrichmentProblems) as problems:
        add_formula(people, "Broken", expression)
    assert message in problems.value.errors["expression"]


def test_a_cycle_is_refused_naming_it(people) -> None:
    first = add_formula(people, "First", "lower(row.name)")
    second = add_formula(people, "Second", f"upper(row.{first.column.key})")
    with pytest.raises(EnrichmentProblems) as problems:
        enrichment_column_update(
            enrichment=first,
            spec=EnrichmentSpec(
                kind="formula", config={"expression": f"trim(row.{second.column.key})"}
            ),
        )
    assert problems.value.errors["expression"] == (
        "This would make the column read its own value: First → Second → First."
    )


def test_edits_flow_through_chained_formulas_in_order(people) -> None:
    domain = add_formula(people, "Domain", "domain(row.email)")
    company = add_formula(people, "Company", f'upper(split(row.{domain.column.key}, ".")[0])')
    ada = Row.objects.get(table=people, position=0)

    row_set_value(row=ada, column=people.columns.get(key="email"), raw="ada@babbage.example")

    ada.refresh_from_db()
    assert ada.values[domain.column.key] == "babbage.example"
    assert ada.values[company.column.key] == "BABBAGE"


def test_new_rows_are_filled_by_add_insert_and_import(people, client) -> None:
    domain = add_formula(people, "Domain", "domain(row.email)")
    ratio = add_formula(people, "Per head", "1000 // row.employees")
    key = domain.column.key

    added = row_add(table=people, values={"email": "new@Example.org"})
    assert added.values[key] == "example.org"
    rows_insert(table=people, rows=[{"email": "x@y.example", "employees": 0}], start_position=100)
    assert Row.objects.get(table=people, position=100).values[key] == "y.example"

    job = import_upload(
        workspace=people.workspace,
        upload=csv_upload("Name,Email,Employees\nLin,lin@corp.example,10\nZero,,0\n"),
        table=people,
        created_by=None,
    )
    import_set_mapping(job=job, mapping=["name", "email", "employees"])
    job = import_start(job=job, background=False)
    assert job.status == "done", job.error
    zero, lin = Row.objects.filter(table=people).order_by("-position")[:2]
    assert (lin.values[key], lin.values[ratio.column.key]) == ("corp.example", 100)
    assert key not in zero.values
    failed = CellResult.objects.filter(column=ratio, status="error")
    assert {cell.row_id for cell in failed} == {
        Row.objects.get(table=people, position=100).pk,
        zero.pk,
        Row.objects.get(table=people, position=1).pk,
    }
    # The import cannot write into a formula column: it is no mapping target.
    page = client.get(reverse("table_detail", args=[people.pk]))
    assert page.status_code == 200


def test_the_grid_shows_typed_values_and_errors_and_the_export_has_them(client, people) -> None:
    add_formula(people, "Per head", "round(1000 / row.employees, 1)", output="number")
    page = client.get(reverse("table_detail", args=[people.pk])).content.decode()
    assert "83.3" in page and "Divide by zero." in page

    response = client.get(reverse("table_export", args=[people.pk]))
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    at = lines[0].index("Per head")
    assert [line[at] for line in lines[1:]] == ["83.3", "", "0.3"]

    sorted_page = client.get(
        reverse("table_detail", args=[people.pk]), {"sort": "per_head"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert sorted_page.index("名前") < sorted_page.index("Ada")


def test_the_formula_panel_previews_saves_and_edits(client, people) -> None:
    page = client.get(reverse("formula_create", args=[people.pk]))
    assert page.status_code == 200
    assert "domain(value)" in page.content.decode()  # the function list

    preview = client.post(
        reverse("formula_preview", args=[people.pk]),
        {"expression": "domain(row.email)", "output": "auto"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "analytical.example" in preview and "(blank)" in preview
    typo = client.post(
        reverse("formula_preview", args=[people.pk]), {"expression": "domian(row.email)"}
    ).content.decode()
    assert "did you mean domain()?" in typo

    response = client.post(
        reverse("formula_create", args=[people.pk]),
        {"label": "Domain", "expression": "domain(row.email)", "output": "auto"},
    )
    assert response.status_code == 302
    domain = people.columns.get(label="Domain").enrichment
    assert values(people, "domain") == ["analytical.example", None, "例え.jp"]

    refused = client.post(
        reverse("enrichment_edit", args=[domain.pk]),
        {"label": "Domain", "expression": "upper(row.domain)", "output": "auto"},
    )
    assert "a column cannot read its own results" in refused.content.decode()

    client.post(
        reverse("enrichment_edit", args=[domain.pk]),
        {"label": "Company domain", "expression": "upper(domain(row.email))", "output": "text"},
    )
    domain.column.refresh_from_db()
    assert domain.column.label == "Company domain"
    assert values(people, "domain") == ["ANALYTICAL.EXAMPLE", None, "例え.JP"]


def test_a_process_sees_a_new_column_in_the_graph_at_once(people) -> None:
    """A worker keeps a table's dependency graph between cells; another process changing the
    table's computed columns makes it read the graph again (a version in the database)."""
    from enrich.enrichment import dependencies

    domain = add_formula(people, "Domain", "domain(row.email)")
    before = dependencies.cached_graph(table_id=people.pk)
    assert not before.downstream({domain.column.key})
    stale = dependencies._cache[people.pk]

    add_formula(people, "Shout", f"upper(row.{domain.column.key})")
    # As in a worker that cached the graph before the column was added elsewhere.
    dependencies._cache[people.pk] = stale

    after = dependencies.cached_graph(table_id=people.pk)
    assert [node.key for node in after.downstream({domain.column.key})] == ["shout"]


def test_a_duplicated_table_computes_its_formulas(people) -> None:
    from enrich.tables import table_duplicate

    ratio = add_formula(people, "Per head", "round(1000 / row.employees, 1)", output="number")
    copy = table_duplicate(table=people, name="People copy", with_rows=True, created_by=None)

    copied = copy.columns.get(key=ratio.column.key).enrichment
    assert copied.kind == "formula" and copied.config == ratio.config
    assert values(copy, ratio.column.key) == [83.3, None, 0.3]
    assert errors(copied) == {1: "Divide by zero."}


def test_saving_a_formula_names_the_first_row_it_failed_on(client, people) -> None:
    response = client.post(
        reverse("formula_create", args=[people.pk]),
        {"label": "Per head", "expression": "1000 / row.employees", "output": "number"},
        follow=True,
    )
    assert "1 row gave an error; row 2: Divide by zero." in response.content.decode()


def test_every_kind_of_computed_column_has_a_panel() -> None:
    from enrich.enrichment.kinds import registered_kinds
    from enrich.enrichment.views import PANELS

    assert {kind.type for kind in registered_kinds()} == set(PANELS)


def test_a_formula_is_computed_from_the_row_as_it_is_not_as_the_caller_saw_it(people) -> None:
    """Two edits at once: each change's formulas read the row again, locked, so the second
    is computed from the first's value too, never from the values its request loaded."""
    from enrich.enrichment.auto_update import propagate

    full = add_formula(people, "Full", 'concat(row.name, " <", row.email, ">")')
    ada = Row.objects.get(table=people, position=0)
    stale = Row.objects.get(pk=ada.pk)
    # Another request changed the email (and committed) after this one loaded the row.
    Row.objects.filter(pk=ada.pk).update(values={**ada.values, "email": "new@x.example"})
    propagate(row=stale, changed={"name"})
    ada.refresh_from_db()
    assert ada.values[full.column.key] == "  Ada Lovelace  <new@x.example>"


def test_a_retyped_column_recomputes_what_reads_it_and_a_read_column_cannot_go(
    client, people
) -> None:
    from enrich.columns import column_change_kind, column_delete
    from enrich.exceptions import ColumnInUse

    text = people.columns.get(key="name")
    column_add = __import__("enrich.columns", fromlist=["column_add"]).column_add
    qty = column_add(table=people, label="Qty", kind="text")
    for row in Row.objects.filter(table=people):
        row_set_value(row=row, column=qty, raw="3")
    double = add_formula(people, "Double", "row.qty * 2")
    assert values(people, double.column.key) == ["33", "33", "33"]

    column_change_kind(column=qty, kind="number")
    assert values(people, double.column.key) == [6, 6, 6]

    with pytest.raises(ColumnInUse) as refused:
        column_delete(column=qty)
    assert str(refused.value) == "“Qty” is read by “Double”: change or delete it first."
    response = client.post(reverse("column_delete", args=[qty.pk]), follow=True)
    assert response.status_code == 200
    assert "is read by “Double”" in response.content.decode()
    assert people.columns.filter(key="qty").exists() and text.pk


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1" + " + 1" * 300, "The template failed"),
        ('get(row, "email")', "A formula reads cells by name"),
        ("row[row.name]", "A formula reads cells by name"),
        ("emial", "There is no name emial: a cell of the row is row.emial."),
    ],
)
def test_formulas_that_cannot_be_followed_are_refused(people, expression, message) -> None:
    with pytest.raises(EnrichmentProblems) as problems:
        add_formula(people, "Broken", expression)
    assert message in problems.value.errors["expression"]


def test_a_changed_formula_queues_its_readers_for_the_rows_it_changed_only(
    people, api, make_enrichment
) -> None:
    domain = add_formula(people, "Domain", "domain(row.email)")
    lookup = make_enrichment(
        people,
        label="Lookup",
        request={"endpoint": api.url("/?d={{ row." + domain.column.key + " }}")},
        auto_update=True,
    )
    enrichment_column_update(
        enrichment=domain,
        spec=EnrichmentSpec(
            kind="formula", config={"expression": 'domain(row.email) if row.email else "none"'}
        ),
    )
    # Only Grace's value changed (no email: "none" now); nothing else is sent again.
    runs = list(Run.objects.filter(column=lookup))
    grace = Row.objects.get(table=people, position=1)
    assert [(run.scope, run.row_ids) for run in runs] == [("rows", [grace.pk])]
