"""Forms parse input; the services in ``enrich.tables``/``columns``/``rows``/``csv_*`` act."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from accounts.object_ids import parse_ids
from enrich.csv_import import NEW_COLUMN, SKIP
from enrich.kinds import TYPED_KINDS
from enrich.models import Column, ColumnKind


class TableForm(forms.Form):
    name = forms.CharField(
        error_messages={"required": "Give the table a name."},
        max_length=200,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "Leads"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the table a name.")
        return name


class TableDuplicateForm(TableForm):
    with_rows = forms.BooleanField(
        required=False,
        initial=True,
        label="Copy the rows too",
        help_text="Unticked, the copy has the same columns and no rows.",
    )


NAME_REQUIRED = {"required": "Give the column a name."}


class ColumnAddForm(forms.Form):
    label = forms.CharField(
        error_messages=NAME_REQUIRED,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Column name"}),
    )
    kind = forms.ChoiceField(choices=TYPED_KINDS, initial=ColumnKind.TEXT)


class ColumnRenameForm(forms.Form):
    label = forms.CharField(max_length=200, error_messages=NAME_REQUIRED)


class ColumnKindForm(forms.Form):
    kind = forms.ChoiceField(choices=TYPED_KINDS)


class ColumnMoveForm(forms.Form):
    offset = forms.IntegerField(min_value=-1000, max_value=1000)


class ColumnHideForm(forms.Form):
    hidden = forms.BooleanField(required=False)


class ColumnReorderForm(forms.Form):
    keys = forms.CharField(help_text="Column keys in their new order, comma-separated.")

    def clean_keys(self) -> list[str]:
        return [key.strip() for key in self.cleaned_data["keys"].split(",") if key.strip()]


class IdListField(forms.Field):
    """Several ``name=<id>`` values (ticked checkboxes) as a list of ints."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: object) -> list[int]:
        items = value if isinstance(value, list | tuple) else []
        ids = parse_ids(items)
        if len(ids) != len(items):
            raise forms.ValidationError("Row ids are numbers.")
        return ids


class RowDeleteForm(forms.Form):
    # Any id is accepted here; the service deletes only rows of the table in question.
    rows = IdListField(error_messages={"required": "Tick the rows to delete first."})


class CellForm(forms.Form):
    value = forms.CharField(required=False, strip=False)

    def clean_value(self) -> str:
        value = self.cleaned_data["value"]
        limit_kb = settings.ENRICH_CSV_MAX_CELL_KB
        if len(value) > limit_kb * 1024:
            raise forms.ValidationError(f"A cell holds at most {limit_kb:,} KB of text.")
        return value


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe separated. "
        "The first line names the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
    )


class CsvNewTableForm(CsvUploadForm):
    name = forms.CharField(
        max_length=200, required=False, help_text="Leave empty to use the file's name."
    )


class SharedOptionsSelect(forms.Select):
    """A ``<select>`` whose options are rendered once for every field that shares them.

    Django renders each option through a template (about 40 µs each): the mapping of a file
    of 500 headers into a table of 500 columns took 20 s. Here each field is one string copy
    with its choice marked selected.
    """

    def __init__(self, choices: Sequence[tuple[str, str]]) -> None:
        super().__init__(choices=choices)
        self.options_html = "".join(
            format_html('<option value="{}">{}</option>', value, label) for value, label in choices
        )

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = format_html('<option value="{}">', "" if value is None else value)
        options = self.options_html.replace(chosen, chosen[:-1] + " selected>", 1)
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            flatatt(self.build_attrs(self.attrs, attrs)),
            mark_safe(options),  # noqa: S308 - built above with format_html, which escapes
        )


class ImportMappingForm(forms.Form):
    """One choice per header of the file: an existing column, a new column or skip."""

    def __init__(
        self,
        *args: Any,
        headers: Sequence[str],
        columns: Sequence[Column],
        initial_mapping: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [(NEW_COLUMN, "+ New text column"), (SKIP, "— Skip —")]
        choices += [(column.key, f"{column.label} ({column.key})") for column in columns]
        # One field's choices, normalised once and shared by every header's field (a copy
        # each): Django normalises and copies them per field, 500 x 500 choices took seconds.
        shared = forms.ChoiceField(
            choices=choices, required=False, widget=SharedOptionsSelect(choices)
        )
        for index, header in enumerate(headers):
            field = copy.copy(shared)
            field.label, field.initial = header, initial_mapping[index]
            self.fields[f"h{index}"] = field
        self.header_count = len(headers)

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"h{index}") or SKIP for index in range(self.header_count)]


class ExportForm(forms.Form):
    """Every option is off by default, so a plain link exports safely (formulas neutralised)."""

    bom = forms.BooleanField(required=False, label="Add a BOM (for Excel)")
    keep_formulas = forms.BooleanField(
        required=False,
        label="Keep formulas",
        help_text="By default text starting with = + - @ gets a ' in front so spreadsheets "
        "don't run it; tick to export it unchanged.",
    )
    view = forms.BooleanField(
        required=False, label="Only the rows in view (the current search, filter and sort)"
    )
