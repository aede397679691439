"""The page: a header with the live state, and four tabs (Live, Analyse, Models, Model).

Only structure lives here; every value is filled in by dashboard.callbacks.
Component ids are the contract with the callbacks and the browser tests.
"""

from __future__ import annotations

from typing import Any

from dash import dash_table, dcc, html

from dashboard import figures
from dashboard.analysis import Limits, human_size
from dashboard.attributes import attributes
from dashboard.live_view import DEFAULT_WINDOW, WINDOWS

REFRESH_MS = 1000
POLL_MS = 400
STATIC_GRAPH: dcc.Graph.Config = {"displayModeBar": False}
ZOOM_GRAPH: dcc.Graph.Config = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
TABS = {"live": "Live", "analyse": "Analyse", "models": "Models", "model": "Model"}  # value -> label
FIRST_TAB = "live"
# Every chart's title, for its text alternative; the callbacks describe each new figure with it.
CHART_TITLES = {
    "live-bar": "Reviews per label",
    "live-pie": "Share of each label",
    "live-series": "Positive and negative reviews per interval",
    "live-confusion": "Live confusion matrix, true label against predicted",
    "csv-bar": "Rows of the file per label",
    "csv-pie": "Share of each label in the file",
    "models-agreement": "Share of reviews on which the shadow agreed with the served model, per minute",
}


def alt_id(graph_id: str) -> str:
    """The id of the element that carries a chart's text alternative (its aria-label)."""
    return f"{graph_id}-alt"


def chart(graph_id: str, figure: figures.Figure, title: str, config: dcc.Graph.Config) -> html.Div:
    """A graph whose label says in words what it shows (Plotly's SVG says nothing a screen reader can use).

    A chart without controls is one image; one with zoom buttons is a figure, whose buttons stay reachable.
    """
    return html.Div(
        dcc.Graph(id=graph_id, figure=figure, config=config),
        id=alt_id(graph_id),
        role="img" if config.get("displayModeBar") is False else "figure",
        **attributes({"aria-label": figures.describe(figure, title)}),
    )


def _graph(graph_id: str, message: str = "waiting for data", zoom: bool = False) -> html.Div:
    return chart(graph_id, figures.empty_figure(message), CHART_TITLES[graph_id], ZOOM_GRAPH if zoom else STATIC_GRAPH)


def _card(title: str, *children, wide: bool = False, extra: str = "") -> html.Div:
    return html.Div(
        [html.H3(title), *children], className=" ".join(c for c in ("card", "wide" if wide else "", extra) if c)
    )


# Darker than the charts' green and red: text needs a contrast of 4.5:1 on white (WCAG 1.4.3).
LABEL_TEXT_COLOURS = {"positive": "#1e7a33", "negative": "#b03030"}


def _label_colours(column: str) -> list[dict]:
    return [
        {"if": {"filter_query": f'{{{column}}} = "{label}"', "column_id": column}, "color": colour, "fontWeight": "600"}
        for label, colour in LABEL_TEXT_COLOURS.items()
    ]


_TABLE_STYLE = dict(
    style_table={"overflowX": "auto"},
    style_cell={
        "fontFamily": figures.FONT,
        "textAlign": "left",
        "padding": "6px 10px",
        "fontSize": "13px",
        "whiteSpace": "normal",
        "height": "auto",
        "border": "none",
    },
    style_header={"fontWeight": "600", "backgroundColor": "#f3f5f8", "border": "none"},
    style_data={"borderBottom": "1px solid #eef0f3"},
)


def window_id(value: str) -> str:
    return f"live-window-{value}"


def window_picker() -> html.Div:
    """Toggle buttons, one pressed: dcc.RadioItems nests its radios in options of an unnamed listbox (Dash 4)."""
    return html.Div(
        [
            html.Span("Window", className="control-label", id="live-window-label"),
            html.Div(
                [
                    html.Button(
                        label,
                        id=window_id(value),
                        n_clicks=0,
                        className="window-button selected" if value == DEFAULT_WINDOW else "window-button",
                        **attributes({"aria-pressed": "true" if value == DEFAULT_WINDOW else "false"}),
                    )
                    for value, label in WINDOWS.items()
                ],
                role="group",
                className="window-picker",
                **attributes({"aria-labelledby": "live-window-label"}),
            ),
            dcc.Store(id="live-window", data=DEFAULT_WINDOW),
        ],
        className="controls",
    )


def live_tab() -> html.Div:
    latest_columns = [
        {"name": "time (UTC)", "id": "time"},
        {"name": "label", "id": "label"},
        {"name": "p(negative)", "id": "p_negative"},
        {"name": "true", "id": "true"},
        {"name": "review", "id": "text"},
        {"name": "model", "id": "model"},
    ]
    return html.Div(
        [
            window_picker(),
            html.Div(id="live-kpis", className="kpis"),
            html.Div(
                [_card("Distribution", _graph("live-bar")), _card("Share", _graph("live-pie"))],
                className="grid two",
            ),
            _card("Positive and negative reviews per interval", _graph("live-series", zoom=True), wide=True),
            html.Div(
                [
                    _card(
                        "Latest reviews",
                        dash_table.DataTable(
                            id="live-latest",
                            columns=latest_columns,
                            data=[],
                            page_size=12,
                            style_data_conditional=_label_colours("label"),
                            style_cell_conditional=[{"if": {"column_id": "text"}, "minWidth": "320px"}],
                            **_TABLE_STYLE,
                        ),
                        extra="span-2",
                    ),
                    _card(
                        "Live accuracy",
                        html.P(id="live-accuracy", className="muted"),
                        _graph("live-confusion", "no labelled reviews yet"),
                    ),
                ],
                className="grid three",
            ),
        ],
        className="tab-body",
    )


def analyse_tab(limits: Limits) -> html.Div:
    return html.Div(
        [
            _card(
                "Analyse one review",
                html.Label("Review text", htmlFor="review-text", className="control-label"),
                dcc.Textarea(id="review-text", placeholder="Paste a review…", className="review-input"),
                html.Div(
                    html.Button("Analyse", id="review-button", n_clicks=0, className="button primary"),
                    className="actions",
                ),
                # The live region is outside dcc.Loading, so it stays in the page while the spinner shows.
                html.Div(
                    dcc.Loading(html.Div(id="review-result"), type="dot"),
                    id="review-result-region",
                    **attributes({"aria-live": "polite"}),
                ),
                wide=True,
            ),
            _card(
                "Analyse a CSV file",
                html.Div(
                    [
                        # assets/a11y.js names the upload's file input and
                        # the picker's focus input from data-accessible-name
                        html.Div(
                            dcc.Upload(
                                id="csv-upload",
                                children=html.Div(
                                    [
                                        html.B("Drop a CSV here or click to choose one"),
                                        html.Div(
                                            f"up to {human_size(limits.max_bytes)} and {limits.max_rows:,} rows; "
                                            "UTF-8 or another encoding, detected",
                                            className="muted",
                                        ),
                                    ]
                                ),
                                className="upload",
                                multiple=False,
                            ),
                            **attributes({"data-accessible-name": "Choose a CSV file to analyse"}),
                        ),
                        html.Div(
                            [
                                html.Span("Text column", className="control-label"),
                                dcc.Dropdown(
                                    id="csv-column",
                                    options=["text"],
                                    value="text",
                                    clearable=False,
                                    className="column-picker",
                                ),
                                # A toggle button, as the window picker: Dash 4's
                                # Checklist nests its input in an unnamed list.
                                html.Button(
                                    "Add the words that carried each verdict (slower)",
                                    id="csv-explain",
                                    n_clicks=0,
                                    className="window-button explain-toggle",
                                    **attributes({"aria-pressed": "false"}),
                                ),
                            ],
                            className="column-row",
                            **attributes({"data-accessible-name": "Text column"}),
                        ),
                    ],
                    className="upload-row",
                ),
                html.Div(id="csv-message", role="alert"),
                html.Div(
                    html.Div(
                        html.Div(id="csv-progress", className="progress-fill", style={"width": "0%"}),
                        id="csv-progress-bar",
                        className="progress-track",
                        role="progressbar",
                        **attributes(
                            {
                                "aria-label": "Scoring progress",
                                "aria-valuemin": "0",
                                "aria-valuemax": "100",
                                "aria-valuenow": "0",
                            }
                        ),
                    ),
                    id="csv-progress-box",
                    className="progress-box",
                    style={"display": "none"},
                ),
                # Polite, and busy while the file scores: the progress bar carries the running count, the region
                # announces the state once it settles rather than every poll.
                html.Div(id="csv-status", className="message", role="status", **attributes({"aria-busy": "false"})),
                html.Div(
                    [
                        html.Div([_graph("csv-bar"), _graph("csv-pie")], className="grid two"),
                        html.P(id="csv-preview-note", className="muted"),
                        dash_table.DataTable(
                            id="csv-preview",
                            columns=[],
                            data=[],
                            page_size=10,
                            style_data_conditional=_label_colours("predicted_label"),
                            **_TABLE_STYLE,
                        ),
                        html.Div(
                            html.Button(
                                "Download labelled CSV",
                                id="csv-download-button",
                                n_clicks=0,
                                disabled=True,
                                className="button primary",
                            ),
                            className="actions",
                        ),
                    ],
                    id="csv-results",
                    style={"display": "none"},
                ),
                html.A(id="csv-download-link", download="", style={"display": "none"}),
                dcc.Store(id="csv-download-url"),
                dcc.Store(id="csv-reply"),
                dcc.Store(id="csv-column-choice", storage_type="session"),
                dcc.Store(id="csv-max-bytes", data=limits.max_bytes),
                dcc.Store(id="csv-job"),
                dcc.Interval(id="csv-poll", interval=POLL_MS, disabled=True),
                wide=True,
            ),
        ],
        className="tab-body",
    )


def models_tab() -> html.Div:
    """The served model beside its shadow candidate; the live stream beside the training data (models_view.py)."""

    def table(table_id: str, columns: list[tuple[str, str]], **extra: Any) -> dash_table.DataTable:
        return dash_table.DataTable(
            id=table_id, columns=[{"name": name, "id": key} for key, name in columns], data=[], **extra, **_TABLE_STYLE
        )

    return html.Div(
        [
            html.P(id="models-summary", className="muted", **attributes({"aria-live": "polite"})),
            html.Div(
                [
                    _card(
                        "Live accuracy by model",
                        table(
                            "models-accuracy",
                            [
                                ("model", "model"),
                                ("role", "role"),
                                ("judged", "judged"),
                                ("positive", "positive"),
                                ("labelled", "with a true label"),
                                ("accuracy", "accuracy"),
                            ],
                        ),
                    ),
                    _card(
                        "Live stream against the training data",
                        table(
                            "models-drift",
                            [("model", "model"), ("statistic", "share of"), ("live", "live"), ("training", "training")],
                        ),
                    ),
                ],
                className="grid two",
            ),
            _card(
                "Agreement of the shadow with the served model",
                _graph("models-agreement", "no shadow candidate in the stream"),
                wide=True,
            ),
            _card(
                "Latest disagreements",
                table(
                    "models-disagreements",
                    [
                        ("review", "review"),
                        ("served", "served (p negative)"),
                        ("shadow", "shadow (p negative)"),
                        ("true", "true"),
                        ("models", "served / shadow"),
                    ],
                    page_size=10,
                    style_cell_conditional=[{"if": {"column_id": "review"}, "minWidth": "360px"}],
                ),
                wide=True,
            ),
        ],
        className="tab-body",
    )


def tab_bar() -> html.Div:
    """Real buttons in a tablist: every tab is reached with Tab and chosen with Enter or Space (assets/a11y.js adds
    the arrow keys), and says which one is selected."""
    return html.Div(
        [
            html.Button(
                label,
                id=f"tab-{value}",
                n_clicks=0,
                role="tab",
                className="tab selected" if value == FIRST_TAB else "tab",
                **attributes(
                    {"aria-selected": "true" if value == FIRST_TAB else "false", "aria-controls": f"panel-{value}"}
                ),
            )
            for value, label in TABS.items()
        ],
        role="tablist",
        className="tabs",
        **attributes({"aria-label": "Views"}),
    )


def tab_panel(value: str, content: html.Div) -> html.Div:
    return html.Div(
        content,
        id=f"panel-{value}",
        role="tabpanel",
        hidden=value != FIRST_TAB,
        **attributes({"aria-labelledby": f"tab-{value}"}),
    )


def build(topic: str, start: str, model_version: str | None, limits: Limits, model_content: html.Div) -> html.Div:
    """The whole page."""
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.H1("Review sentiment"),
                            html.Div(
                                f"topic {topic} · from {start} · model {model_version or 'not loaded'}",
                                className="subtitle",
                            ),
                        ]
                    ),
                    html.Div("connecting…", id="status-pill", className="pill info"),
                ],
                className="header",
            ),
            dcc.Location(id="url", refresh=False),
            html.Div(id="live-banner", **attributes({"aria-live": "polite"})),
            html.Main(
                [
                    tab_bar(),
                    tab_panel("live", live_tab()),
                    tab_panel("analyse", analyse_tab(limits)),
                    tab_panel("models", models_tab()),
                    tab_panel("model", html.Div(model_content, className="tab-body")),
                ]
            ),
            dcc.Store(id="tabs", data=FIRST_TAB),
            dcc.Store(id="tab-request"),  # a tab the server opens (a reload with ?job= opens Analyse)
            dcc.Interval(id="live-tick", interval=REFRESH_MS),
        ],
        className="page",
    )
